package dev.gatun.server.pipeline;

import dev.gatun.engine.tensor.Tensor;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Encoded image bytes to one normalised NCHW float32 sample, the way torchvision's classic ImageNet transform does
 * it ({@code Resize(resize)}, {@code CenterCrop(H, W)}, {@code ToTensor()}, {@code Normalize(mean, std)}):
 * <ol>
 *   <li>decode: PNG or JPEG only (recognised by their signature), with {@code javax.imageio}; the size the header
 *       declares is checked against a pixel limit before any pixel is decoded (decompression bombs);</li>
 *   <li>RGB: colour channels as stored (gray replicated, alpha dropped, palettes looked up), scaled to [0, 1] by
 *       the sample depth's maximum (255, or 65535 for 16-bit PNGs);</li>
 *   <li>resize so the shorter side is {@code resize} and the longer {@code floor(resize * long / short)}, with
 *       Pillow's bilinear filter (a triangle of support {@code max(in/out, 1)}, so downscaling averages like
 *       Pillow's and torchvision's antialiased resize; separable, horizontal then vertical, in float without
 *       intermediate rounding); only the pixels the crop keeps are computed;</li>
 *   <li>center crop {@code H x W} at offsets {@code round((size - crop) / 2)} (half to even, as Python);</li>
 *   <li>{@code out[c, y, x] = (v - mean[c]) / std[c]} written channel-planar (NCHW).</li>
 * </ol>
 */
final class ImagePreprocessor {
    private static final byte[] PNG = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private final int resize;
    private final int height;
    private final int width;
    private final float[] mean;
    private final float[] std;
    private final long maxPixels;

    ImagePreprocessor(int resize, int height, int width, float[] mean, float[] std, long maxPixels) {
        if (resize < Math.max(height, width)) {
            throw new IllegalArgumentException("resize " + resize + " is smaller than the crop " + height + "x" + width);
        }
        for (float s : std) {
            if (!(s != 0 && Float.isFinite(s))) {
                throw new IllegalArgumentException("std values must be finite and non-zero, got " + s);
            }
        }
        this.resize = resize;
        this.height = height;
        this.width = width;
        this.mean = mean.clone();
        this.std = std.clone();
        this.maxPixels = maxPixels;
    }

    /** The image format by signature: "png", "jpeg", or null for anything else. */
    static String sniff(byte[] b) {
        if (b.length >= PNG.length && java.util.Arrays.equals(b, 0, PNG.length, PNG, 0, PNG.length)) {
            return "png";
        }
        if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) {
            return "jpeg";
        }
        return null;
    }

    /**
     * Decodes {@code bytes} and writes the sample's {@code 3 * H * W} floats to {@code dst} from element
     * {@code offset}.
     *
     * @throws Pipeline.PipelineException naming the problem (format, size over the limit, corrupt data)
     */
    void process(byte[] bytes, MemorySegment dst, long offset) {
        BufferedImage img = decode(bytes);
        int w = img.getWidth();
        int h = img.getHeight();
        int newW;
        int newH;
        if (w <= h) {
            newW = resize;
            newH = (int) ((long) resize * h / w);
        } else {
            newH = resize;
            newW = (int) ((long) resize * w / h);
        }
        int top = (int) Math.rint((newH - height) / 2.0);
        int left = (int) Math.rint((newW - width) / 2.0);
        Filter fx = new Filter(w, newW, left, width);
        Filter fy = new Filter(h, newH, top, height);

        // Horizontal pass over the source rows the vertical pass reads: tmp[c][(y - y0) * width + x].
        int y0 = fy.start[0];
        int y1 = fy.start[height - 1] + fy.count[height - 1];
        float[][] tmp = new float[3][(y1 - y0) * width];
        float[][] row = new float[3][w];
        RowReader reader = new RowReader(img);
        for (int y = y0; y < y1; y++) {
            reader.read(y, row);
            int base = (y - y0) * width;
            for (int c = 0; c < 3; c++) {
                float[] src = row[c];
                float[] out = tmp[c];
                for (int x = 0; x < width; x++) {
                    int s = fx.start[x];
                    int n = fx.count[x];
                    int wo = x * fx.taps;
                    float acc = 0;
                    for (int k = 0; k < n; k++) {
                        acc += fx.weights[wo + k] * src[s + k];
                    }
                    out[base + x] = acc;
                }
            }
        }
        // Vertical pass, then normalisation, straight into the NCHW sample.
        float[] acc = new float[width];
        for (int c = 0; c < 3; c++) {
            float[] t = tmp[c];
            float m = mean[c];
            float inv = 1f / std[c];
            long plane = offset + (long) c * height * width;
            for (int y = 0; y < height; y++) {
                java.util.Arrays.fill(acc, 0);
                int s = fy.start[y] - y0;
                int n = fy.count[y];
                int wo = y * fy.taps;
                for (int k = 0; k < n; k++) {
                    float wk = fy.weights[wo + k];
                    int rb = (s + k) * width;
                    for (int x = 0; x < width; x++) {
                        acc[x] += wk * t[rb + x];
                    }
                }
                long o = plane + (long) y * width;
                for (int x = 0; x < width; x++) {
                    dst.setAtIndex(Tensor.F32, o + x, (acc[x] - m) * inv);
                }
            }
        }
    }

    /** Reads the header, checks the declared size, then decodes. */
    BufferedImage decode(byte[] bytes) {
        String format = sniff(bytes);
        if (format == null) {
            throw new Pipeline.PipelineException("not a PNG or JPEG image (unknown signature)");
        }
        Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format);
        if (!readers.hasNext()) {
            throw new IllegalStateException("no " + format + " reader in this JDK");
        }
        ImageReader reader = readers.next();
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.setInput(in, true, true);
            int w = reader.getWidth(0);
            int h = reader.getHeight(0);
            if (w < 1 || h < 1) {
                throw new Pipeline.PipelineException(format + " image declares an empty size " + w + "x" + h);
            }
            if ((long) w * h > maxPixels) {
                throw new Pipeline.PipelineException(format + " image declares " + w + "x" + h + " = " + (long) w * h
                        + " pixels, over the limit of " + maxPixels);
            }
            BufferedImage img = reader.read(0);
            if (img == null || img.getWidth() != w || img.getHeight() != h) {
                throw new Pipeline.PipelineException("cannot decode the " + format + " image");
            }
            return img;
        } catch (IOException | RuntimeException e) {
            if (e instanceof Pipeline.PipelineException p) {
                throw p;
            }
            String msg = e.getMessage();
            throw new Pipeline.PipelineException("cannot decode the " + format + " image: "
                    + (msg == null || msg.isBlank() ? e.getClass().getSimpleName() : msg));
        } finally {
            reader.dispose();
        }
    }

    /**
     * Pillow's resampling coefficients for the output indices [{@code from}, {@code from + n}) of an axis scaled
     * from {@code in} to {@code out} samples with the bilinear (triangle) filter.
     */
    static final class Filter {
        final int[] start;
        final int[] count;
        final int taps;
        final float[] weights;

        Filter(int in, int out, int from, int n) {
            double scale = (double) in / out;
            double filterScale = Math.max(scale, 1.0);
            double support = filterScale;
            taps = (int) Math.ceil(support) * 2 + 1;
            start = new int[n];
            count = new int[n];
            weights = new float[n * taps];
            double[] w = new double[taps];
            for (int i = 0; i < n; i++) {
                double center = (from + i + 0.5) * scale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                int xmax = Math.min((int) (center + support + 0.5), in);
                int len = Math.min(xmax - xmin, taps);
                double sum = 0;
                for (int k = 0; k < len; k++) {
                    double d = Math.abs((k + xmin - center + 0.5) / filterScale);
                    w[k] = d < 1 ? 1 - d : 0;
                    sum += w[k];
                }
                start[i] = xmin;
                count[i] = len;
                for (int k = 0; k < len; k++) {
                    weights[i * taps + k] = (float) (sum == 0 ? 0 : w[k] / sum);
                }
            }
        }
    }

    /** One source row as three float channels in [0, 1]. */
    private static final class RowReader {
        private final BufferedImage img;
        private final Raster raster;
        private final boolean direct;
        private final int bands;
        private final boolean gray;
        private final float scale;
        private final int[] buf;

        RowReader(BufferedImage img) {
            this.img = img;
            this.raster = img.getRaster();
            ColorModel cm = img.getColorModel();
            int csType = cm.getColorSpace().getType();
            int tt = raster.getTransferType();
            direct = cm instanceof ComponentColorModel
                    && (csType == ColorSpace.TYPE_RGB || csType == ColorSpace.TYPE_GRAY)
                    && (tt == DataBuffer.TYPE_BYTE || tt == DataBuffer.TYPE_USHORT);
            gray = csType == ColorSpace.TYPE_GRAY;
            bands = raster.getNumBands();
            scale = direct ? 1f / ((1 << cm.getComponentSize(0)) - 1) : 1f / 255;
            buf = new int[img.getWidth() * (direct ? bands : 1)];
        }

        void read(int y, float[][] out) {
            int w = img.getWidth();
            float[] r = out[0];
            float[] g = out[1];
            float[] b = out[2];
            if (direct) {
                raster.getPixels(0, y, w, 1, buf);
                for (int x = 0; x < w; x++) {
                    int p = x * bands;
                    if (gray) {
                        float v = buf[p] * scale;
                        r[x] = v;
                        g[x] = v;
                        b[x] = v;
                    } else {
                        r[x] = buf[p] * scale;
                        g[x] = buf[p + 1] * scale;
                        b[x] = buf[p + 2] * scale;
                    }
                }
            } else {
                img.getRGB(0, y, w, 1, buf, 0, w);
                for (int x = 0; x < w; x++) {
                    int p = buf[x];
                    r[x] = ((p >> 16) & 0xff) * scale;
                    g[x] = ((p >> 8) & 0xff) * scale;
                    b[x] = (p & 0xff) * scale;
                }
            }
        }
    }
}
