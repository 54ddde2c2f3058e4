package dev.gatun.server.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The image-classification pipeline on images made in the test. */
class ImageClassificationPipelineTest {
    private static final float[] MEAN = {0.5f, 0.25f, 0f};
    private static final float[] STD = {0.5f, 2f, 1f};

    @TempDir
    Path dir;

    static byte[] write(BufferedImage img, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, format, out), "no " + format + " writer");
        return out.toByteArray();
    }

    private static float[] encode(ImageClassificationPipeline p, byte[]... images) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = p.encode(List.of((Object[]) images), arena).get(p.inputName());
            assertEquals(Shape.of(images.length, 3, p.height(), p.width()), x.shape());
            return x.toFloatArray();
        }
    }

    /** A crop of 2 x 2 from a resize to 2 (shorter side), with mean/std chosen so every step shows. */
    private static ImageClassificationPipeline tiny() {
        return new ImageClassificationPipeline(null, 2, 2, MEAN, STD, 5, null, 1_000_000, true, null);
    }

    @Test
    void resizeCropNormaliseByHand() throws IOException {
        // 6 x 4 image: R = 10x, G = 20y, B = 128. Resize to 3 x 2 (shorter side 2, longer floor(2 * 6 / 4)),
        // crop 2 x 2 at left round(0.5) = 0 (half to even), top 0. Pillow's bilinear filter for a factor 2 has
        // support 2: output column 0 (center 1.0) weighs source columns 0,1,2 by 3/7,3/7,1/7; column 1 (center 3.0)
        // columns 1..4 by 1/8,3/8,3/8,1/8; rows likewise (row 1, at the bottom edge: rows 1,2,3 by 1/7,3/7,3/7).
        BufferedImage img = new BufferedImage(6, 4, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 6; x++) {
                img.setRGB(x, y, (10 * x) << 16 | (20 * y) << 8 | 128);
            }
        }
        float[] r = {50f / 7, 25f};
        float[] g = {100f / 7, 320f / 7};
        float[] expected = new float[12];
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 2; x++) {
                expected[y * 2 + x] = (r[x] / 255 - MEAN[0]) / STD[0];
                expected[4 + y * 2 + x] = (g[y] / 255 - MEAN[1]) / STD[1];
                expected[8 + y * 2 + x] = (128f / 255 - MEAN[2]) / STD[2];
            }
        }
        assertArrayEquals(expected, encode(tiny(), write(img, "png")), 1e-5f);
        // The same image turned a quarter (4 x 6, portrait): the roles of x and y swap.
        BufferedImage t = new BufferedImage(4, 6, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 6; y++) {
            for (int x = 0; x < 4; x++) {
                t.setRGB(x, y, img.getRGB(y, x));
            }
        }
        float[] got = encode(tiny(), write(t, "png"));
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 2; x++) {
                assertEquals(expected[x * 2 + y], got[y * 2 + x], 1e-5f);
            }
        }
    }

    @Test
    void upscalingAConstantImageKeepsItsValue() throws IOException {
        BufferedImage img = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        img.setRGB(0, 0, 0x336699);
        ImageClassificationPipeline p = new ImageClassificationPipeline();
        float[] x = encode(p, write(img, "png"));
        assertEquals(3 * 224 * 224, x.length);
        int[] rgb = {0x33, 0x66, 0x99};
        for (int c = 0; c < 3; c++) {
            float want = (rgb[c] / 255f - ImageClassificationPipeline.IMAGENET_MEAN[c]) / ImageClassificationPipeline.IMAGENET_STD[c];
            for (int i = 0; i < 224 * 224; i++) {
                assertEquals(want, x[c * 224 * 224 + i], 1e-5f);
            }
        }
    }

    @Test
    void pixelFormats() throws IOException {
        float[] id = {0, 0, 0};
        float[] one = {1, 1, 1};
        ImageClassificationPipeline raw = new ImageClassificationPipeline(null, 2, 2, id, one, 5, null, 1_000_000, true, null);
        // Gray is replicated without any gamma change.
        BufferedImage gray = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_GRAY);
        gray.getRaster().setSample(0, 0, 0, 51);
        gray.getRaster().setSample(1, 0, 0, 51);
        gray.getRaster().setSample(0, 1, 0, 51);
        gray.getRaster().setSample(1, 1, 0, 51);
        float[] g = encode(raw, write(gray, "png"));
        for (float v : g) {
            assertEquals(0.2f, v, 1e-6f);
        }
        // 16-bit gray scales by 65535.
        BufferedImage g16 = new BufferedImage(2, 2, BufferedImage.TYPE_USHORT_GRAY);
        for (int i = 0; i < 4; i++) {
            g16.getRaster().setSample(i % 2, i / 2, 0, 65535);
        }
        for (float v : encode(raw, write(g16, "png"))) {
            assertEquals(1f, v, 1e-6f);
        }
        // Alpha is dropped, not blended.
        BufferedImage argb = new BufferedImage(2, 2, BufferedImage.TYPE_INT_ARGB);
        for (int i = 0; i < 4; i++) {
            argb.setRGB(i % 2, i / 2, 0x10ff8000);
        }
        float[] a = encode(raw, write(argb, "png"));
        assertEquals(1f, a[0], 1e-6f);
        assertEquals(128f / 255, a[4], 1e-6f);
        assertEquals(0f, a[8], 1e-6f);
        // Palette images go through their palette.
        BufferedImage indexed = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_INDEXED);
        for (int i = 0; i < 4; i++) {
            indexed.setRGB(i % 2, i / 2, 0xff0000);
        }
        float[] ix = encode(raw, write(indexed, "png"));
        assertEquals(1f, ix[0], 1e-6f);
        assertEquals(0f, ix[4], 1e-6f);
    }

    @Test
    void jpegIsDecoded() throws IOException {
        BufferedImage img = new BufferedImage(300, 200, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 200; y++) {
            for (int x = 0; x < 300; x++) {
                img.setRGB(x, y, 0xc08040);
            }
        }
        ImageClassificationPipeline raw = new ImageClassificationPipeline(null, 0, 0, new float[3], new float[] {1, 1, 1}, 5, null,
                1_000_000, true, null);
        float[] x = encode(raw, write(img, "jpeg"), write(img, "png"));
        int plane = 224 * 224;
        float[] want = {0xc0 / 255f, 0x80 / 255f, 0x40 / 255f};
        for (int b = 0; b < 2; b++) {
            for (int c = 0; c < 3; c++) {
                for (int i = 0; i < plane; i += 97) {
                    assertEquals(want[c], x[(b * 3 + c) * plane + i], b == 0 ? 4f / 255 : 1e-5f, "image " + b + " channel " + c);
                }
            }
        }
    }

    @Test
    void corruptOrForeignBytesAreClientErrors() throws IOException {
        ImageClassificationPipeline p = tiny();
        byte[] png = write(new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB), "png");
        byte[] jpeg = write(new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB), "jpeg");
        BufferedImage gifImg = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_INDEXED);
        Random rnd = new Random(7);
        byte[] noise = new byte[1000];
        rnd.nextBytes(noise);
        byte[] pngNoise = noise.clone();
        System.arraycopy(png, 0, pngNoise, 0, 8);
        byte[] jpegNoise = noise.clone();
        System.arraycopy(jpeg, 0, jpegNoise, 0, 3);
        byte[] truncatedPng = java.util.Arrays.copyOf(png, png.length / 2);
        List<byte[]> bad = List.of(new byte[0], noise, pngNoise, jpegNoise, truncatedPng, write(gifImg, "gif"), write(gifImg, "bmp"),
                "hello".getBytes());
        for (int i = 0; i < bad.size(); i++) {
            byte[] b = bad.get(i);
            try (Arena arena = Arena.ofConfined()) {
                Pipeline.PipelineException e = assertThrows(Pipeline.PipelineException.class, () -> p.encode(List.of(png, b), arena),
                        "case " + i);
                assertTrue(e.getMessage().startsWith("image item 1: "), e.getMessage());
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(Pipeline.PipelineException.class, () -> p.encode(List.of("not bytes"), arena));
            assertThrows(Pipeline.PipelineException.class, () -> p.encode(java.util.Arrays.asList(png, null), arena));
            assertThrows(Pipeline.PipelineException.class, () -> p.encode(List.of(), arena));
        }
    }

    /** A PNG whose header declares {@code w x h} while its data is that of an 8 x 8 image. */
    private static byte[] pngDeclaring(int w, int h) throws IOException {
        byte[] png = write(new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB), "png");
        // Signature (8), IHDR length (4), "IHDR" (4), width, height at 16 and 20; CRC over type + data at 29.
        ByteBuffer b = ByteBuffer.wrap(png);
        b.putInt(16, w).putInt(20, h);
        CRC32 crc = new CRC32();
        crc.update(png, 12, 17);
        b.putInt(29, (int) crc.getValue());
        return png;
    }

    @Test
    void decompressionBombsAreRefusedFromTheHeader() throws IOException {
        ImageClassificationPipeline p = new ImageClassificationPipeline();
        try (Arena arena = Arena.ofConfined()) {
            Pipeline.PipelineException e = assertThrows(Pipeline.PipelineException.class,
                    () -> p.encode(List.of(pngDeclaring(100_000, 100_000)), arena));
            assertTrue(e.getMessage().contains("100000x100000") && e.getMessage().contains("limit"), e.getMessage());
            // Just over a configured limit, a real image is refused too; at the limit it passes.
            byte[] img = write(new BufferedImage(20, 10, BufferedImage.TYPE_INT_RGB), "png");
            ImageClassificationPipeline small = new ImageClassificationPipeline(null, 0, 0, ImageClassificationPipeline.IMAGENET_MEAN,
                    ImageClassificationPipeline.IMAGENET_STD, 5, null, 199, true, null);
            assertThrows(Pipeline.PipelineException.class, () -> small.encode(List.of(img), arena));
            ImageClassificationPipeline exact = ImageClassificationPipeline.fromConfig(dir, Map.of("max_pixels", 200L));
            assertEquals(Shape.of(1, 3, 224, 224), exact.encode(List.of(img), arena).get("input").shape());
        }
    }

    @Test
    void softmaxAndTopKByHand() throws IOException {
        Path labels = dir.resolve("labels.txt");
        Files.writeString(labels, "zero\none\ntwo\n");
        ImageClassificationPipeline p = new ImageClassificationPipeline(null, 0, 0, ImageClassificationPipeline.IMAGENET_MEAN,
                ImageClassificationPipeline.IMAGENET_STD, 3, labels, 1000, true, null);
        try (Arena arena = Arena.ofConfined()) {
            // Row 0: logits 0, ln 2, ln 4, ln 1 -> probabilities 1/8, 2/8, 4/8, 1/8. Row 1: a tie between 0 and 2.
            float l2 = (float) Math.log(2);
            Tensor z = Tensor.ofFloats(arena, new float[] {0, l2, 2 * l2, 0, 5, 1, 5, -1}, 2, 4);
            Map<String, Tensor> out = p.decode(Map.of("logits", z), Map.of(), arena);
            assertEquals(List.of("scores", "classes", "labels"), List.copyOf(out.keySet()));
            float[] s = out.get("scores").toFloatArray();
            assertArrayEquals(new float[] {0.5f, 0.25f, 0.125f}, java.util.Arrays.copyOf(s, 3), 1e-6f);
            assertArrayEquals(new long[] {2, 1, 0, 0, 2, 1}, out.get("classes").toLongArray());
            assertArrayEquals(new String[] {"two", "one", "zero", "zero", "two", "one"}, out.get("labels").strings());
            assertEquals(Shape.of(2, 3), out.get("labels").shape());
            // Class 3 has no label line: it is named by its number; k is capped by the class count.
            ImageClassificationPipeline noSoftmax = new ImageClassificationPipeline(null, 0, 0, ImageClassificationPipeline.IMAGENET_MEAN,
                    ImageClassificationPipeline.IMAGENET_STD, 10, labels, 1000, false, null);
            Tensor probs = Tensor.ofFloats(arena, new float[] {0.1f, 0.2f, 0.3f, 0.4f}, 1, 4, 1, 1);
            Map<String, Tensor> o2 = noSoftmax.decode(Map.of("p", probs), Map.of(), arena);
            assertArrayEquals(new float[] {0.4f, 0.3f, 0.2f, 0.1f}, o2.get("scores").toFloatArray());
            assertArrayEquals(new String[] {"3", "two", "one", "zero"}, o2.get("labels").strings());
        }
    }

    @Test
    void bindTakesTheModelsInputSize() {
        List<TensorInfo> outs = List.of(new TensorInfo("logits", DType.FLOAT, dyn(-1, 1000)));
        ImageClassificationPipeline p = (ImageClassificationPipeline) new ImageClassificationPipeline()
                .bind(List.of(new TensorInfo("data", DType.FLOAT, Shape.of(1, 3, 299, 299))), outs);
        assertEquals("data", p.inputName());
        assertEquals(299, p.height());
        ImageClassificationPipeline dyn = (ImageClassificationPipeline) new ImageClassificationPipeline()
                .bind(List.of(new TensorInfo("x", DType.FLOAT, dyn(-1, 3, -1, -1))), outs);
        assertEquals(224, dyn.width());
        assertThrows(IllegalArgumentException.class, () -> new ImageClassificationPipeline()
                .bind(List.of(new TensorInfo("x", DType.FLOAT, Shape.of(1, 224, 224, 3))), outs));
        assertThrows(IllegalArgumentException.class, () -> new ImageClassificationPipeline()
                .bind(List.of(new TensorInfo("x", DType.UINT8, Shape.of(1, 3, 224, 224))), outs));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ImageClassificationPipeline()
                .bind(List.of(new TensorInfo("a", DType.FLOAT, null), new TensorInfo("b", DType.FLOAT, null)), outs));
        assertTrue(e.getMessage().contains("'input'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ImageClassificationPipeline.fromConfig(dir, Map.of("size", 200L))
                .bind(List.of(new TensorInfo("x", DType.FLOAT, Shape.of(1, 3, 224, 224))), outs));
        assertThrows(IllegalArgumentException.class, () -> ImageClassificationPipeline.fromConfig(dir, Map.of("output", "probs"))
                .bind(List.of(new TensorInfo("x", DType.FLOAT, Shape.of(1, 3, 224, 224))), outs));
        assertThrows(IllegalArgumentException.class, () -> ImageClassificationPipeline.fromConfig(dir, Map.of("mean", List.of(1, 2))));
        assertThrows(IllegalArgumentException.class, () -> ImageClassificationPipeline.fromConfig(dir, Map.of("resize", 100L)));
        assertThrows(IllegalArgumentException.class, () -> ImageClassificationPipeline.fromConfig(dir, Map.of("std", List.of(1, 0, 1))));
        assertThrows(java.io.UncheckedIOException.class, () -> ImageClassificationPipeline.fromConfig(dir, Map.of("labels", "missing.txt")));
    }

    /** pixels [N, 3, 40, 60] -> GlobalAveragePool -> Flatten: the logits are the channel means. */
    private static byte[] channelMeanModel() {
        Onnx.TensorShapeProto.Builder s = Onnx.TensorShapeProto.newBuilder()
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(3))
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(40))
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(60));
        Onnx.ValueInfoProto.Builder x = Onnx.ValueInfoProto.newBuilder().setName("pixels").setType(Onnx.TypeProto.newBuilder()
                .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s)));
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("means").addInput(x)
                .addOutput(Onnx.ValueInfoProto.newBuilder().setName("logits"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("GlobalAveragePool").addInput("pixels").addOutput("pooled"))
                .addNode(Onnx.NodeProto.newBuilder().setOpType("Flatten").addInput("pooled").addOutput("logits"));
        return Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build().toByteArray();
    }

    @Test
    void endToEndWithAModel() throws IOException {
        Path labels = dir.resolve("colours.txt");
        Files.writeString(labels, "red\ngreen\nblue\n");
        int[] colours = {0xff2010, 0x10ff20, 0x2010ff};
        byte[][] images = new byte[3][];
        for (int i = 0; i < 3; i++) {
            BufferedImage img = new BufferedImage(90 + i * 10, 70, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    img.setRGB(x, y, colours[i]);
                }
            }
            images[i] = write(img, i == 1 ? "jpeg" : "png");
        }
        try (Model m = Model.load(channelMeanModel(), "means.onnx"); Session session = m.newSession(); Arena arena = Arena.ofConfined()) {
            Pipeline p = ImageClassificationPipeline.fromConfig(dir, Map.of("type", "image-classification", "labels", "colours.txt",
                    "top_k", 2L, "mean", List.of(0, 0, 0), "std", List.of(1, 1, 1))).bind(m.inputs(), m.outputs());
            assertEquals("image", p.rawInputName());
            assertEquals(byte[].class, p.itemType());
            Map<String, Tensor> in = p.encode(List.of((Object[]) images), arena);
            assertEquals(Shape.of(3, 3, 40, 60), in.get("pixels").shape());
            try (Result r = session.run(in)) {
                Map<String, Tensor> out = p.decode(r.asMap(), in, arena);
                assertArrayEquals(new String[] {"red", "green", "green", "blue", "blue", "red"}, out.get("labels").strings());
                assertArrayEquals(new long[] {0, 1, 1, 2, 2, 0}, out.get("classes").toLongArray());
                float[] s = out.get("scores").toFloatArray();
                // Red's channel means are 1, 0x20/255, 0x10/255: the scores are their softmax.
                double e0 = Math.exp(1);
                double e1 = Math.exp(0x20 / 255.0);
                double e2 = Math.exp(0x10 / 255.0);
                assertEquals(e0 / (e0 + e1 + e2), s[0], 1e-5);
                assertEquals(e1 / (e0 + e1 + e2), s[1], 1e-5);
            }
        }
    }

    /** A declared shape; -1 marks an unknown dim. */
    private static Shape dyn(long... dims) {
        return Shape.symbolic(dims, new String[dims.length]);
    }
}
