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

    /** A model this repository ships (its folder under models/). */
    static Path shippedModel(String name) {
        return require("brightseg.test.shipped", name);
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

    /**
     * Every page of a little-endian BigTIFF of 16-bit planes, uncompressed or deflated, in file
     * order: enough for the OME-TIFF of ndev-sampledata, which the JDK's TIFF reader refuses.
     */
    static java.util.List<Image16> readBigTiff16(Path path) throws IOException {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(java.nio.file.Files.readAllBytes(path))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        if (b.getShort(0) != 0x4949 || b.getShort(2) != 43) {
            throw new IOException(path + " is not a little-endian BigTIFF");
        }
        java.util.List<Image16> pages = new java.util.ArrayList<>();
        long ifd = b.getLong(8);
        while (ifd != 0) {
            int at = (int) ifd;
            long entries = b.getLong(at);
            java.util.Map<Integer, Long> tags = new java.util.HashMap<>();
            for (int e = 0; e < entries; e++) {
                int entry = at + 8 + 20 * e;
                int tag = b.getShort(entry) & 0xffff;
                int type = b.getShort(entry + 2);
                // Single values only (what these files hold for the tags read below).
                long value = type == 3 ? b.getShort(entry + 12) & 0xffff
                        : type == 4 ? b.getInt(entry + 12) & 0xffffffffL : b.getLong(entry + 12);
                tags.put(tag, value);
            }
            int w = tags.get(256).intValue();
            int h = tags.get(257).intValue();
            if (tags.get(258) != 16 || tags.getOrDefault(277, 1L) != 1) {
                throw new IOException(path + ": not one 16-bit sample per pixel");
            }
            byte[] raw = new byte[tags.get(279).intValue()];
            b.position(tags.get(273).intValue());
            b.get(raw);
            byte[] data = raw;
            long compression = tags.getOrDefault(259, 1L);
            if (compression == 8) {
                data = new byte[2 * w * h];
                java.util.zip.Inflater inflater = new java.util.zip.Inflater();
                inflater.setInput(raw);
                try {
                    int n = 0;
                    while (n < data.length && !inflater.finished()) {
                        n += inflater.inflate(data, n, data.length - n);
                    }
                } catch (java.util.zip.DataFormatException e) {
                    throw new IOException(path + ": corrupt deflate data", e);
                } finally {
                    inflater.end();
                }
            } else if (compression != 1) {
                throw new IOException(path + ": compression " + compression + " not supported");
            }
            short[] px = new short[w * h];
            java.nio.ByteBuffer.wrap(data).order(java.nio.ByteOrder.LITTLE_ENDIAN).asShortBuffer()
                    .get(px);
            pages.add(new Image16(w, h, px));
            ifd = b.getLong(at + 8 + 20 * (int) entries);
        }
        return pages;
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
