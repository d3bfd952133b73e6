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
 * values). Prints {@code median_ms=…} (the whole Java call) and {@code median_bridge_ms=…} (the
 * call minus the native segmentation time it reports: what the bridge itself costs, measured
 * inside each call so that run-to-run noise of the inference does not enter it).
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
            double[] ms = new double[repeats];
            double[] bridge = new double[repeats];
            double[] work = new double[repeats];
            int objects = 0;
            for (int i = 0; i < repeats; i++) {
                long start = System.nanoTime();
                NucleiResult result = segmenter.findNuclei(pixels, width, height, params);
                ms[i] = (System.nanoTime() - start) / 1e6;
                work[i] = result.segmentationMillis();
                bridge[i] = ms[i] - work[i];
                objects = result.nuclei().size();
            }
            Arrays.sort(ms);
            Arrays.sort(bridge);
            Arrays.sort(work);
            System.out.println("median_ms=" + ms[repeats / 2]);
            System.out.println("median_bridge_ms=" + bridge[repeats / 2]);
            System.out.println("median_work_ms=" + work[repeats / 2]);
            System.out.println("objects=" + objects);
            System.out.println("backend=" + segmenter.backend());
        }
    }
}
