package io.github.brightseg;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;

/**
 * Times Find Nuclei through the Java API, for {@code brightseg bench}'s JNI-overhead row: the
 * same 16-bit plane, model, backend and threads as the in-process measurement.
 *
 * <p>Usage: {@code java -cp brightseg-api.jar io.github.brightseg.Bench MODEL PLANE.u16 WIDTH
 * HEIGHT PIXEL_SIZE_UM THREADS REPEATS [BACKEND]} (PLANE.u16: little-endian unsigned 16-bit
 * values). After one untimed call it times REPEATS calls of each kind, taking turns: {@code
 * labels} (labels and measurements, what the CLI writes by default; {@link
 * NucleiParams#withProbability(boolean) withProbability(false)}) and {@code full} (with the
 * probability image too). For each kind it prints {@code KIND.median_ms=…} (the whole Java
 * call), {@code KIND.median_bridge_ms=…} (the call minus the native segmentation time it
 * reports: what the bridge itself costs, measured inside each call so that run-to-run noise of
 * the inference does not enter it) and {@code KIND.median_work_ms=…}.
 */
public final class Bench {
    private Bench() {}

    /** Runs the measurement described in the class comment. */
    public static void main(String[] args) throws IOException {
        if (args.length < 7) {
            System.err.println("usage: Bench MODEL PLANE.u16 WIDTH HEIGHT PIXEL_SIZE_UM THREADS "
                    + "REPEATS [BACKEND]");
            System.exit(2);
        }
        Path model = Paths.get(args[0]);
        byte[] bytes = Files.readAllBytes(Paths.get(args[1]));
        int width = Integer.parseInt(args[2]);
        int height = Integer.parseInt(args[3]);
        double pixelSize = Double.parseDouble(args[4]);
        int threads = Integer.parseInt(args[5]);
        int repeats = Integer.parseInt(args[6]);
        Backend backend = args.length > 7 ? Backend.fromLabel(args[7]) : Backend.CPU;
        short[] pixels = new short[width * height];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(pixels);
        SegmenterOptions options =
                SegmenterOptions.defaults().withThreads(threads).withBackend(backend);
        NucleiParams params = NucleiParams.defaults().withPixelSizeUm(pixelSize);
        try (Segmenter segmenter = Segmenter.open(model, options)) {
            NucleiParams[] kinds = {params.withProbability(false), params};
            String[] names = {"labels", "full"};
            double[][] ms = new double[2][repeats];
            double[][] bridge = new double[2][repeats];
            double[][] work = new double[2][repeats];
            int objects = segmenter.findNuclei(pixels, width, height, params).nuclei().size();
            for (int i = 0; i < repeats; i++) {
                for (int k = 0; k < kinds.length; k++) {
                    long start = System.nanoTime();
                    NucleiResult result = segmenter.findNuclei(pixels, width, height, kinds[k]);
                    ms[k][i] = (System.nanoTime() - start) / 1e6;
                    work[k][i] = result.segmentationMillis();
                    bridge[k][i] = ms[k][i] - work[k][i];
                    if (result.nuclei().size() != objects) {
                        throw new IllegalStateException("the " + names[k] + " call found "
                                + result.nuclei().size() + " nuclei, the first call " + objects);
                    }
                }
            }
            for (int k = 0; k < kinds.length; k++) {
                System.out.println(names[k] + ".median_ms=" + median(ms[k]));
                System.out.println(names[k] + ".median_bridge_ms=" + median(bridge[k]));
                System.out.println(names[k] + ".median_work_ms=" + median(work[k]));
            }
            System.out.println("objects=" + objects);
            System.out.println("backend=" + segmenter.backend());
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
