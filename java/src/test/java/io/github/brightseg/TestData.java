package io.github.brightseg;

import static org.junit.Assert.fail;
import static org.junit.Assume.assumeTrue;

import java.awt.image.Raster;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;

import javax.imageio.ImageIO;

/**
 * The real model and images the tests use. Missing ones skip a test on a developer machine and
 * fail it in CI (CI=true), so CI never passes by skipping.
 */
final class TestData {
    private TestData() {
    }

    static Path require(String property, String relative) {
        String base = System.getProperty(property);
        File f = base == null ? null : new File(base, relative);
        if (f == null || !f.exists()) {
            String message = "test input missing: " + (f == null ? property + " not set" : f)
                    + " (run scripts/fetch-data.sh; the model comes from ../shared/models)";
            if ("true".equals(System.getenv("CI"))) {
                fail(message);
            }
            assumeTrue(message, false);
        }
        return f.toPath();
    }

    static Path model() {
        return require("brightseg.test.model", "");
    }

    static Path data(String relative) {
        return require("brightseg.test.data", relative);
    }

    /** A 16-bit grey TIFF as ImageJ would hold it: row-major {@code short[]}. */
    static final class Image16 {
        final int width;
        final int height;
        final short[] pixels;

        Image16(int width, int height, short[] pixels) {
            this.width = width;
            this.height = height;
            this.pixels = pixels;
        }

        int at(int i) {
            return pixels[i] & 0xffff;
        }
    }

    static Image16 read16(Path path) throws IOException {
        Raster r = ImageIO.read(path.toFile()).getRaster();
        int w = r.getWidth();
        int h = r.getHeight();
        int[] values = r.getPixels(0, 0, w, h, (int[]) null);
        short[] px = new short[w * h];
        for (int i = 0; i < px.length; i++) {
            px[i] = (short) values[i];
        }
        return new Image16(w, h, px);
    }

    /** Asserts two results are identical: labels, probabilities and statistics, bit for bit. */
    static void assertSameResult(NucleiResult expected, NucleiResult actual) {
        org.junit.Assert.assertArrayEquals(expected.labels(), actual.labels());
        org.junit.Assert.assertArrayEquals(expected.probability(), actual.probability(), 0f);
        org.junit.Assert.assertArrayEquals(expected.statistics().values(),
                actual.statistics().values(), 0);
    }

    /** Runs {@code call}, which must throw an IllegalArgumentException mentioning {@code fragment}. */
    static void expectIllegalArgument(Runnable call, String fragment) {
        try {
            call.run();
            org.junit.Assert.fail(
                    "expected IllegalArgumentException containing \"" + fragment + "\"");
        } catch (IllegalArgumentException e) {
            org.junit.Assert.assertTrue(e.getMessage(), e.getMessage().contains(fragment));
        }
    }

    static Path missing() {
        return Paths.get("/no/such/brightseg/model");
    }

    /** Object F1 at IoU > 0.5 between two label images (one-to-one by overlap). */
    static double objectF1(int[] predicted, int[] truth) {
        int np = 0;
        int nt = 0;
        for (int i = 0; i < predicted.length; i++) {
            np = Math.max(np, predicted[i]);
            nt = Math.max(nt, truth[i]);
        }
        long[] areaP = new long[np + 1];
        long[] areaT = new long[nt + 1];
        java.util.Map<Long, Long> overlap = new java.util.HashMap<>();
        for (int i = 0; i < predicted.length; i++) {
            areaP[predicted[i]]++;
            areaT[truth[i]]++;
            if (predicted[i] > 0 && truth[i] > 0) {
                overlap.merge((long) predicted[i] * (nt + 1) + truth[i], 1L, Long::sum);
            }
        }
        int matched = 0;
        for (java.util.Map.Entry<Long, Long> e : overlap.entrySet()) {
            int p = (int) (e.getKey() / (nt + 1));
            int t = (int) (e.getKey() % (nt + 1));
            double iou = (double) e.getValue() / (areaP[p] + areaT[t] - e.getValue());
            if (iou > 0.5) {
                matched++; // IoU > 0.5 pairs are necessarily one-to-one
            }
        }
        // Count labels present: ground-truth ids may have gaps.
        long presentP = java.util.Arrays.stream(areaP).skip(1).filter(a -> a > 0).count();
        long presentT = java.util.Arrays.stream(areaT).skip(1).filter(a -> a > 0).count();
        return presentP + presentT == 0 ? 1 : 2.0 * matched / (presentP + presentT);
    }
}
