package io.github.brightseg;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The JVM never crashes: many handles at once, memory limits, and pixel values that make no
 * sense all end in a result or a Java exception, and the JVM goes on working.
 */
public class ReliabilityTest {
    private static Path model;
    private static TestData.Image16 image;
    private static NucleiResult reference;

    private static NucleiParams params() {
        return NucleiParams.defaults().withPixelSizeUm(0.5).withMinSizeUm2(2.5);
    }

    @BeforeClass
    public static void singleThreadedReference() throws Exception {
        model = TestData.model();
        image = TestData.read16(TestData.data("stardist/img2d.tif"));
        try (Segmenter s = Segmenter.open(model, SegmenterOptions.defaults().withThreads(1))) {
            reference = s.findNuclei(image.pixels, image.width, image.height, params());
        }
        assertTrue(reference.statistics().count() > 50);
    }

    @Test
    public void eightHandlesInParallelGiveTheSingleThreadedResult() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Segmenter> handles = new ArrayList<>();
        try {
            for (int i = 0; i < 8; i++) {
                handles.add(Segmenter.open(model, SegmenterOptions.defaults().withThreads(1)));
            }
            List<Future<NucleiResult>> results = new ArrayList<>();
            for (Segmenter s : handles) {
                results.add(pool.submit(
                        () -> s.findNuclei(image.pixels, image.width, image.height, params())));
            }
            for (Future<NucleiResult> f : results) {
                NucleiResult r = f.get();
                TestData.assertSameResult(reference, r);
            }
        } finally {
            for (Segmenter s : handles) {
                s.close();
            }
            pool.shutdown();
        }
    }

    /**
     * Calls on four handles at once draw from one memory budget: with a budget that holds one
     * call (405 MB for this model at 512²) but not two, they run one after another instead of
     * failing or running over it, each with the single-threaded result; and a call made from
     * inside another's progress listener, which cannot wait for the call it is inside, is
     * refused with a message. Catches per-handle budgets (the calls overlap) and a wait that
     * deadlocks.
     */
    @Test
    public void callsOnSeveralHandlesShareOneMemoryBudgetAndRunInTurn() throws Exception {
        SegmenterOptions oneAtATime = SegmenterOptions.defaults().withThreads(1)
                .withMemoryBudget(500_000_000L);
        int calls = 4;
        long[][] spans = new long[calls][2];
        ExecutorService pool = Executors.newFixedThreadPool(calls);
        List<Segmenter> handles = new ArrayList<>();
        try {
            for (int i = 0; i < calls; i++) {
                handles.add(Segmenter.open(model, oneAtATime));
            }
            List<Future<NucleiResult>> results = new ArrayList<>();
            for (int i = 0; i < calls; i++) {
                Segmenter s = handles.get(i);
                long[] span = spans[i];
                NucleiParams p = params().withProgress((stage, done, total) -> {
                    long now = System.nanoTime();
                    if (span[0] == 0) {
                        span[0] = now;
                    }
                    span[1] = now;
                });
                results.add(pool.submit(
                        () -> s.findNuclei(image.pixels, image.width, image.height, p)));
            }
            for (Future<NucleiResult> f : results) {
                TestData.assertSameResult(reference, f.get(600, TimeUnit.SECONDS));
            }
            for (int i = 0; i < calls; i++) {
                for (int j = i + 1; j < calls; j++) {
                    boolean apart = spans[i][1] < spans[j][0] || spans[j][1] < spans[i][0];
                    assertTrue("calls " + i + " and " + j + " ran at once", apart);
                }
            }

            Segmenter outer = handles.get(0);
            Segmenter inner = handles.get(1);
            List<String> refused = new ArrayList<>();
            NucleiParams calling = params().withProgress((stage, done, total) -> {
                if (refused.isEmpty()) {
                    try {
                        inner.findNuclei(image.pixels, image.width, image.height, params());
                        refused.add("not refused");
                    } catch (BrightsegException e) {
                        refused.add(e.getMessage());
                    }
                }
            });
            TestData.assertSameResult(reference,
                    outer.findNuclei(image.pixels, image.width, image.height, calling));
            assertEquals(1, refused.size());
            assertTrue(refused.get(0), refused.get(0).contains("made from inside one of them "
                    + "(a progress listener?), so it cannot wait for them to finish"));
        } finally {
            for (Segmenter s : handles) {
                s.close();
            }
            pool.shutdown();
        }
    }

    /**
     * Another thread closes the Segmenter while a call is running on it: close() waits for the
     * call, which ends with the undisturbed result; afterwards calls throw
     * IllegalStateException, the model is released and the JVM goes on. Catches a close that
     * frees the model under the running call (a crash or garbage) or that returns before it.
     */
    @Test
    public void closingFromAnotherThreadDuringACallWaitsForTheCall() throws Exception {
        int before = Segmenter.openModels();
        Segmenter s = Segmenter.open(model, SegmenterOptions.defaults().withThreads(1));
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch closing = new CountDownLatch(1);
        AtomicBoolean closeReturned = new AtomicBoolean();
        AtomicBoolean closedDuringCall = new AtomicBoolean();
        NucleiParams p = params().withProgress((stage, done, total) -> {
            if (closeReturned.get()) {
                closedDuringCall.set(true);
            }
            if (inside.getCount() > 0) {
                inside.countDown();
                try {
                    // Give the closing thread every chance to (wrongly) get through.
                    closing.await(10, TimeUnit.SECONDS);
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<NucleiResult> call = pool.submit(
                    () -> s.findNuclei(image.pixels, image.width, image.height, p));
            assertTrue("the call started", inside.await(60, TimeUnit.SECONDS));
            Thread closer = new Thread(() -> {
                closing.countDown();
                s.close();
                closeReturned.set(true);
            });
            closer.start();
            NucleiResult r = call.get(120, TimeUnit.SECONDS);
            closer.join(60_000);
            assertFalse("close() returned while the call was running", closedDuringCall.get());
            assertTrue(closeReturned.get());
            assertTrue(s.isClosed());
            assertArrayEquals(reference.labels(), r.labels());
            assertEquals(before, Segmenter.openModels());
            try {
                s.findNuclei(image.pixels, image.width, image.height, params());
                fail("a closed Segmenter must throw");
            } catch (IllegalStateException expected) {
                assertTrue(expected.getMessage(), expected.getMessage().contains("closed"));
            }
        } finally {
            pool.shutdown();
        }
        // The JVM and the native library go on working.
        try (Segmenter again = Segmenter.open(model, SegmenterOptions.defaults().withThreads(1))) {
            assertArrayEquals(reference.labels(),
                    again.findNuclei(image.pixels, image.width, image.height, params()).labels());
        }
    }

    @Test
    public void anImageOverTheMemoryBudgetIsAnExceptionNotACrash() throws Exception {
        SegmenterOptions tight = SegmenterOptions.defaults().withThreads(1)
                .withMemoryBudget(200_000_000L);
        try (Segmenter s = Segmenter.open(model, tight)) {
            try {
                s.findNuclei(image.pixels, image.width, image.height, params());
                fail("a 512 × 512 image needs more than 200 MB with this model");
            } catch (BrightsegException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("needs about 405 MB"));
                assertTrue(e.getMessage(), e.getMessage().contains("memory budget is 200 MB"));
                // One thread is already too many for these fixed tiles: the message says only
                // the budget helps, and names the Java method (and Fiji field) for it.
                assertTrue(e.getMessage(), e.getMessage().contains(
                        "even one worker thread needs about 405 MB, so raise the memory budget "
                        + "(SegmenterOptions.withMemoryBudget; in Fiji the \"Memory budget [MB]\" "
                        + "field)"));
            }
        }
        try (Segmenter s = Segmenter.open(model,
                SegmenterOptions.defaults().withMemoryBudget(1L << 40))) {
            assertArrayEquals(reference.labels(),
                    s.findNuclei(image.pixels, image.width, image.height, params()).labels());
        }
        assertTrue("the automatic budget is positive",
                SegmenterOptions.defaults().effectiveMemoryBudget() > 0);
        TestData.expectIllegalArgument(() -> SegmenterOptions.defaults().withMemoryBudget(-1), "budget");
        TestData.expectIllegalArgument(() -> SegmenterOptions.defaults().withTileSize(-5), "tile size");
        try {
            Segmenter.open(model, SegmenterOptions.defaults().withTileSize(256)).close();
            fail("this model's tiles are fixed");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("exactly 512 × 512"));
        }
    }

    /**
     * A calibration in the wrong unit (353 µm for a 0.619 µm model: nm read as µm) is refused
     * before anything is resampled; accepted on purpose, the resampled plane is refused by the
     * memory budget before it is allocated. Either way the JVM goes on.
     */
    @Test
    public void anImplausiblePixelSizeIsRefusedBeforeAnythingIsResampled() throws Exception {
        Path brightfield = TestData.shippedModel("nuclei-brightfield");
        SegmenterOptions options = SegmenterOptions.defaults().withThreads(1)
                .withMemoryBudget(2_000_000_000L);
        try (Segmenter s = Segmenter.open(brightfield, options)) {
            NucleiParams wrongUnit = NucleiParams.defaults().withPixelSizeUm(353);
            try {
                s.findNuclei(image.pixels, image.width, image.height, wrongUnit);
                fail("353 µm is 570 times the model's pixel size");
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("570 times larger"));
                assertTrue(e.getMessage(), e.getMessage().contains("withAnyPixelSize()"));
            }
            try {
                s.findNuclei(image.pixels, image.width, image.height,
                        wrongUnit.withAnyPixelSize());
                fail("resampled to 291981 × 291981, far over 2 GB");
            } catch (BrightsegException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("resampled to 291981 × 291981"));
                assertTrue(e.getMessage(), e.getMessage().contains("memory budget is 2.0 GB"));
            }
            NucleiResult fine = s.findNuclei(image.pixels, image.width, image.height,
                    NucleiParams.defaults().withPixelSizeUm(0.5));
            assertTrue(fine.labels().length == image.width * image.height);
        }
    }

    @Test
    public void nonsensePixelsGiveAnExceptionOrASaneResult() throws Exception {
        int w = 96;
        int h = 80;
        float[][] inputs = new float[5][w * h];
        java.util.Arrays.fill(inputs[0], Float.NaN);
        java.util.Arrays.fill(inputs[1], Float.POSITIVE_INFINITY);
        for (int i = 0; i < w * h; i++) {
            inputs[2][i] = (i % 2 == 0) ? Float.MAX_VALUE : -Float.MAX_VALUE;
            inputs[3][i] = Float.MIN_VALUE * (i % 7);
        }
        inputs[4][17] = Float.NaN;
        // Each input's outcome is pinned: a NaN or an infinity anywhere is refused with the
        // count of bad values; finite extremes and subnormals run and give a sane result.
        String[] refusals = {"7680 NaN or infinite", "7680 NaN or infinite", null, null,
            "1 NaN or infinite"};
        try (Segmenter s = Segmenter.open(model, SegmenterOptions.defaults().withThreads(2))) {
            for (int k = 0; k < inputs.length; k++) {
                if (refusals[k] != null) {
                    try {
                        s.findNuclei(inputs[k], w, h, params());
                        fail("input " + k + " must be refused");
                    } catch (BrightsegException e) {
                        assertTrue("input " + k + ": " + e.getMessage(),
                                e.getMessage().contains(refusals[k]));
                    }
                    continue;
                }
                NucleiResult r = s.findNuclei(inputs[k], w, h, params());
                for (float p : r.probability()) {
                    assertFalse("input " + k + ": probability " + p,
                            Float.isNaN(p) || p < 0 || p > 1);
                }
                for (int label : r.labels()) {
                    assertTrue(label >= 0 && label <= r.statistics().count());
                }
            }
            // The handle and the JVM go on working.
            assertArrayEquals(reference.labels(),
                    s.findNuclei(image.pixels, image.width, image.height, params()).labels());
        }
    }
}
