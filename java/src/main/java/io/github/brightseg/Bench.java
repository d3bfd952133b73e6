package io.github.brightseg;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Times Find Nuclei through the Java API, for {@code brightseg bench}'s JNI-overhead row: the
 * same 16-bit plane, model, backend and threads as the in-process measurement, which the bench
 * times in turns with these calls so that both see the same moments of a shared machine.
 *
 * <p>Usage: {@code java -cp brightseg-api.jar io.github.brightseg.Bench MODEL PLANE.u16 WIDTH
 * HEIGHT PIXEL_SIZE_UM THREADS [BACKEND]} (PLANE.u16: little-endian unsigned 16-bit values).
 * After one untimed call of each kind it prints {@code objects=…}, {@code backend=…} and
 * {@code ready}. Then, for every line it reads, it makes one call and prints {@code ms=…
 * bridge_ms=… work_ms=…}: the whole Java call, the call minus the native segmentation time it
 * reports (what the bridge itself costs, measured inside the call so that run-to-run noise of
 * the inference does not enter it), and that segmentation time. A line {@code labels} asks for
 * labels and measurements (what the CLI writes by default; {@link
 * NucleiParams#withProbability(boolean) withProbability(false)}), {@code full} for the
 * probability image too. It ends at the end of its input.
 */
public final class Bench {
    private Bench() {}

    /** Runs the measurement described in the class comment. */
    public static void main(String[] args) throws IOException {
        if (args.length < 6) {
            System.err.println("usage: Bench MODEL PLANE.u16 WIDTH HEIGHT PIXEL_SIZE_UM THREADS "
                    + "[BACKEND]");
            System.exit(2);
        }
        Path model = Paths.get(args[0]);
        byte[] bytes = Files.readAllBytes(Paths.get(args[1]));
        int width = Integer.parseInt(args[2]);
        int height = Integer.parseInt(args[3]);
        double pixelSize = Double.parseDouble(args[4]);
        int threads = Integer.parseInt(args[5]);
        Backend backend = args.length > 6 ? Backend.fromLabel(args[6]) : Backend.CPU;
        short[] pixels = new short[width * height];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(pixels);
        SegmenterOptions options =
                SegmenterOptions.defaults().withThreads(threads).withBackend(backend);
        NucleiParams full = NucleiParams.defaults().withPixelSizeUm(pixelSize);
        NucleiParams labels = full.withProbability(false);
        try (Segmenter segmenter = Segmenter.open(model, options)) {
            int objects = segmenter.findNuclei(pixels, width, height, full).nuclei().size();
            segmenter.findNuclei(pixels, width, height, labels);
            System.out.println("objects=" + objects);
            System.out.println("backend=" + segmenter.backend());
            System.out.println("ready");
            System.out.flush();
            BufferedReader in = new BufferedReader(
                    new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line; (line = in.readLine()) != null; ) {
                NucleiParams params;
                switch (line.trim()) {
                    case "labels":
                        params = labels;
                        break;
                    case "full":
                        params = full;
                        break;
                    default:
                        throw new IllegalArgumentException("unknown request: " + line);
                }
                long start = System.nanoTime();
                NucleiResult result = segmenter.findNuclei(pixels, width, height, params);
                double ms = (System.nanoTime() - start) / 1e6;
                if (result.nuclei().size() != objects) {
                    throw new IllegalStateException("a " + line + " call found "
                            + result.nuclei().size() + " nuclei, the first call " + objects);
                }
                double work = result.segmentationMillis();
                System.out.println("ms=" + ms + " bridge_ms=" + (ms - work) + " work_ms=" + work);
                System.out.flush();
            }
        }
    }
}
