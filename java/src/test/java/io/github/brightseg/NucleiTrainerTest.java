package io.github.brightseg;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;

import org.junit.BeforeClass;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Train Nuclei DNN through the Java API on real paired images (ndev-sampledata's scratch assay:
 * oblique transmitted light and Hoechst of the same fields), with a schedule of a few steps:
 * the model folder it writes opens in a Segmenter, progress arrives in order, cancel keeps the
 * best epoch, a rerun resumes, and bad requests fail before any work.
 */
public class NucleiTrainerTest {
    /** ndev's OME-TIFF: planes in XYTCZ order, 10 frames; channel 0 Hoechst, 1 oblique. */
    private static final int FRAMES = 10;
    private static final double PIXEL_UM = 0.619;
    private static List<TrainingField> fields;

    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @BeforeClass
    public static void readFields() throws IOException {
        List<TestData.Image16> pages =
                TestData.readBigTiff16(TestData.data("ndev/scratch-assay-labeled-10T-2Ch.tiff"));
        assertEquals(4 * FRAMES, pages.size());
        fields = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            fields.add(new TrainingField("ndev t" + t, 192, 210, crop(pages.get(FRAMES + t)),
                    crop(pages.get(t))));
        }
    }

    /** The left 192 columns of a plane, as floats. */
    private static float[] crop(TestData.Image16 plane) {
        float[] out = new float[192 * plane.height];
        for (int y = 0; y < plane.height; y++) {
            for (int x = 0; x < 192; x++) {
                out[y * 192 + x] = plane.at(y * plane.width + x);
            }
        }
        return out;
    }

    private TrainingOptions quick(String name) throws IOException {
        return TrainingOptions.named(name, tmp.getRoot().toPath())
                .withPixelSizeUm(PIXEL_UM).withEpochs(2).withStepsPerEpoch(2)
                .withBatch(2, 64).withThreads(2)
                .withTrainingData(java.util.Collections.singletonList("ndev-sampledata test crop"));
    }

    /** Records every report as a line. */
    private static final class Recorder implements TrainingListener {
        final List<String> events = new ArrayList<>();
        int cancelAfterEpoch = Integer.MAX_VALUE;
        int lastEpoch;
        boolean cancelAtOnce;

        @Override
        public void onPreparing(int done, int total) {
            events.add("targets " + done + "/" + total);
        }

        @Override
        public void onStep(int epoch, int step, int stepsPerEpoch, double loss) {
            assertTrue("loss " + loss, loss > 0 && loss < 10);
            events.add("step " + epoch + "." + step + "/" + stepsPerEpoch);
        }

        @Override
        public void onEpoch(int epoch, int maxEpochs, double trainLoss, double validationLoss,
                double validationF1, double bestF1, double seconds) {
            assertTrue(validationF1 >= 0 && validationF1 <= 1 && bestF1 >= validationF1);
            assertTrue(seconds >= 0);
            lastEpoch = epoch;
            events.add("epoch " + epoch + "/" + maxEpochs);
        }

        @Override
        public boolean isCancelled() {
            return cancelAtOnce || lastEpoch >= cancelAfterEpoch;
        }
    }

    @Test
    public void trainsAModelThatFindNucleiOpensAndResumesWhenRunAgain() throws IOException {
        Recorder progress = new Recorder();
        TrainingResult r = NucleiTrainer.train(fields, quick("java-trained"), progress);
        assertEquals(java.util.Arrays.asList("targets 1/2", "targets 2/2", "step 1.1/2",
                "step 1.2/2", "epoch 1/2",
                "step 2.1/2", "step 2.2/2", "epoch 2/2"), progress.events);
        assertEquals(TrainingResult.Stop.FINISHED, r.stop());
        assertEquals(2, r.epochs());
        assertTrue(r.bestEpoch() == 1 || r.bestEpoch() == 2);
        assertEquals(0, r.resumedAfter());
        assertEquals(30293, r.parameters());
        assertEquals("the jar's native library trains on flex", "flex", r.engine());
        assertTrue(r.threshold() >= 0.3 && r.threshold() <= 0.7);
        assertTrue(String.valueOf(r.splitDepthPx()),
                java.util.Arrays.asList(0.5, 1.0, 2.0, 3.0).contains(r.splitDepthPx()));
        assertEquals(tmp.getRoot().toPath().resolve("java-trained").toAbsolutePath(), r.folder());
        for (String file : new String[] {"bioimageio.yaml", "LICENSE", "README.md",
                "training.json", "weights.bpk"}) {
            assertTrue(file, Files.isRegularFile(r.folder().resolve(file)));
        }
        String yaml = new String(Files.readAllBytes(r.folder().resolve("bioimageio.yaml")),
                java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(yaml, yaml.contains("ndev-sampledata test crop"));

        // Find Nuclei runs it, by folder and by name on a search path.
        try (Segmenter s = Segmenter.open(r.folder(), SegmenterOptions.defaults().withThreads(2))) {
            assertEquals("java-trained", s.modelName());
            TrainingField f = fields.get(1);
            NucleiResult found = s.findNuclei(f.brightfield(), f.width(), f.height(),
                    NucleiParams.defaults().withPixelSizeUm(PIXEL_UM));
            assertEquals(f.width() * f.height(), found.probability().length);
            assertEquals(r.threshold(), found.threshold(), 1e-6);
            // The model's split depth is the default: asking for it gives the same nuclei.
            NucleiResult same = s.findNuclei(f.brightfield(), f.width(), f.height(),
                    NucleiParams.defaults().withPixelSizeUm(PIXEL_UM)
                            .withSplitDepthPx(r.splitDepthPx()));
            assertArrayEquals(found.labels(), same.labels());
        }
        assertEquals(r.folder(), Models.resolve("java-trained",
                java.util.Collections.singletonList(tmp.getRoot().toPath())).toAbsolutePath());

        // A second run with the same data and options resumes from the checkpoints.
        try {
            NucleiTrainer.train(fields, quick("java-trained"), null);
            fail("an existing model must not be replaced silently");
        } catch (IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("already exists"));
        }
        TrainingResult again = NucleiTrainer.train(fields,
                quick("java-trained").withReplaceExisting(true), null);
        assertEquals(2, again.resumedAfter());
        assertEquals(r.bestEpoch(), again.bestEpoch());
        assertEquals(r.validationF1(), again.validationF1(), 1e-12);
    }

    @Test
    public void cancelKeepsTheBestEpoch() throws IOException {
        Recorder progress = new Recorder();
        progress.cancelAfterEpoch = 1;
        TrainingResult r = NucleiTrainer.train(fields, quick("cancelled").withEpochs(5), progress);
        assertEquals(TrainingResult.Stop.CANCELLED, r.stop());
        assertEquals(1, r.epochs());
        assertEquals(1, r.bestEpoch());
        assertTrue(Files.isRegularFile(r.folder().resolve("bioimageio.yaml")));
    }

    @Test
    public void cancelBeforeTheFirstEpochWritesNothing() throws IOException {
        Recorder progress = new Recorder();
        progress.cancelAtOnce = true;
        try {
            NucleiTrainer.train(fields, quick("too-early"), progress);
            fail("cancelled before any epoch");
        } catch (CancellationException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("before the first epoch"));
        }
        assertEquals(1, progress.events.size());
        assertFalse(Files.exists(tmp.getRoot().toPath().resolve("too-early/bioimageio.yaml")));
    }

    @Test
    public void anExceptionFromTheListenerStopsTrainingAndReachesTheCaller() throws IOException {
        IllegalStateException thrown = new IllegalStateException("listener gave up");
        TrainingListener failing = new TrainingListener() {
            @Override
            public void onStep(int epoch, int step, int stepsPerEpoch, double loss) {
                throw thrown;
            }
        };
        try {
            NucleiTrainer.train(fields, quick("thrown"), failing);
            fail("the listener's exception must reach the caller");
        } catch (IllegalStateException e) {
            assertSame(thrown, e);
        }
    }

    /**
     * Drawn labels (ROIs filled into a label image, as Train Nuclei DNN from ROIs sends them):
     * every other labelled nucleus of two frames, the rest unlabelled, a corner marked as sure
     * background; trained with the incomplete-label loss, which the model's report names.
     */
    @Test
    public void trainsFromDrawnLabelsThatLeaveNucleiOut() throws IOException {
        List<TestData.Image16> pages =
                TestData.readBigTiff16(TestData.data("ndev/scratch-assay-labeled-10T-2Ch.tiff"));
        List<TrainingField> labelled = new ArrayList<>();
        int kept = 0;
        for (int t = 0; t < 2; t++) {
            float[] nuclei = crop(pages.get(2 * FRAMES + t));
            int[] labels = new int[nuclei.length];
            for (int i = 0; i < labels.length; i++) {
                int id = (int) nuclei[i];
                labels[i] = id % 2 == 1 ? id : 0;
                kept += labels[i] > 0 ? 1 : 0;
            }
            labels[0] = TrainingField.BACKGROUND;
            labelled.add(TrainingField.withLabels("ndev t" + t + " drawn", 192, 210,
                    fields.get(t).brightfield(), labels));
        }
        assertTrue("labelled pixels: " + kept, kept > 1000);
        assertTrue(labelled.get(0).isLabelled());
        TrainingResult r = NucleiTrainer.train(labelled,
                quick("java-labels").withIncompleteLabels(true).withUnlabelledWeight(0.2), null);
        assertEquals(2, r.epochs());
        String report = new String(Files.readAllBytes(r.folder().resolve("training.json")),
                java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(report, report.contains("incomplete labels (unlabelled pixels weighted 0.2)"));
        TrainingResult complete = NucleiTrainer.train(labelled, quick("java-complete"), null);
        String completeReport = new String(Files.readAllBytes(
                complete.folder().resolve("training.json")), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(completeReport, completeReport.contains("\"targets_from\": \"labels\""));

        // Fields of one kind per call; incomplete labels need labels; labels from -1.
        List<TrainingField> mixed = new ArrayList<>(labelled);
        mixed.add(fields.get(0));
        expectRefused(mixed, quick("mixed"), "train on fields of one kind");
        expectRefused(fields, quick("stain").withIncompleteLabels(true), "need fields with drawn");
        TestData.expectIllegalArgument(() -> TrainingField.withLabels("f", 16, 16,
                new float[256], new int[] {-2}), "label array must hold");
        int[] minusTwo = new int[256];
        minusTwo[3] = -2;
        TestData.expectIllegalArgument(() -> TrainingField.withLabels("f", 16, 16,
                new float[256], minusTwo), "label -2 is invalid");
        TestData.expectIllegalArgument(
                () -> TrainingOptions.named("m", tmp.getRoot().toPath()).withUnlabelledWeight(0),
                "(0, 1]");
    }

    private static void expectRefused(List<TrainingField> f, TrainingOptions o, String message) {
        TestData.expectIllegalArgument(() -> {
            try {
                NucleiTrainer.train(f, o, null);
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }, message);
    }

    @Test
    public void badRequestsFailBeforeAnyWork() throws IOException {
        Path root = tmp.getRoot().toPath();
        TestData.expectIllegalArgument(() -> TrainingOptions.named("a/b", root), "invalid");
        TestData.expectIllegalArgument(
                () -> TrainingOptions.named("m", root).withArchitecture("huge"), "unknown");
        TestData.expectIllegalArgument(
                () -> TrainingOptions.named("m", root).withValidationFraction(0.9), "0.05 to 0.5");
        TestData.expectIllegalArgument(
                () -> new TrainingField("f", 20, 20, new float[10], new float[400]), "400 values");
        TestData.expectIllegalArgument(() -> {
            try {
                NucleiTrainer.train(fields, TrainingOptions.named("m", root), null);
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }, "no pixel size");
        // The native side checks what Java cannot: a patch the U-Net cannot take.
        TestData.expectIllegalArgument(() -> {
            try {
                NucleiTrainer.train(fields, quick("odd").withBatch(2, 60), null);
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }, "patch");
    }
}
