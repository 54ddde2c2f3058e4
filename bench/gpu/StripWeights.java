import dev.gatun.engine.onnx.proto.Onnx;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a copy of an ONNX model without the data of its large float initializers (>= 4096 elements), each marked
 * with doc_string "gatun:random", so a BERT-class model travels to the GPU machine in kilobytes; there
 * bench/gpu/fill_weights.py gives them random values of the same shapes. Single-file program:
 * java -cp ENGINE_JAR:PROTOBUF_JAR bench/gpu/StripWeights.java IN.onnx OUT.onnx
 */
public class StripWeights {
    public static void main(String[] args) throws Exception {
        Onnx.ModelProto m = Onnx.ModelProto.parseFrom(Files.readAllBytes(Path.of(args[0])));
        Onnx.ModelProto.Builder b = m.toBuilder();
        Onnx.GraphProto.Builder g = b.getGraphBuilder();
        int stripped = 0;
        for (Onnx.TensorProto.Builder t : g.getInitializerBuilderList()) {
            long n = 1;
            for (long d : t.getDimsList()) {
                n *= d;
            }
            if (t.getDataType() == 1 && n >= 4096) {
                t.clearRawData().clearFloatData().setDocString("gatun:random");
                stripped++;
            }
        }
        Files.write(Path.of(args[1]), b.build().toByteArray());
        System.out.println("stripped " + stripped + " initializers -> " + args[1] + " (" + Files.size(Path.of(args[1])) + " bytes)");
    }
}
