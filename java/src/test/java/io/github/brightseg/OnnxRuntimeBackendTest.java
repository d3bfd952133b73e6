package io.github.brightseg;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * The backend choice through the Java API: ONNX Runtime (the CPU wheel of the test environment)
 * gives the numbers tract gives, says that it ran, and falls back from CUDA with a reason.
 */
public class OnnxRuntimeBackendTest {
    private static final List<String> LOG = Collections.synchronizedList(new ArrayList<>());
    private static TestData.Image16 image;
    private static NucleiResult tract;
    private static Path library;

    @BeforeClass
    public static void runTract() throws Exception {
        NativeLog.setSink((level, message) -> LOG.add(level + " " + message));
        library = TestData.require("brightseg.test.ortlib", "");
        image = TestData.read16(TestData.data("stardist/img2d.tif"));
        try (Segmenter s = Segmenter.open(TestData.model(),
                SegmenterOptions.defaults().withThreads(2).withBackend(Backend.CPU))) {
            tract = s.findNuclei(image.pixels, image.width, image.height, params());
        }
    }

    @AfterClass
    public static void resetLog() {
        NativeLog.setSink(null);
    }

    private static NucleiParams params() {
        return NucleiParams.defaults().withPixelSizeUm(0.5).withMinSizeUm2(2.5);
    }

    private static NucleiResult run(Backend backend, String[] ranOn) throws Exception {
        SegmenterOptions options = SegmenterOptions.defaults().withThreads(2)
                .withBackend(backend).withOnnxRuntimeLibrary(library);
        try (Segmenter s = Segmenter.open(TestData.model(), options)) {
            ranOn[0] = s.backend();
            return s.findNuclei(image.pixels, image.width, image.height, params());
        }
    }

    @Test
    public void onnxRuntimeOnTheCpuGivesTractsNumbers() throws Exception {
        String[] ranOn = new String[1];
        NucleiResult ort = run(Backend.CPU_ONNXRUNTIME, ranOn);
        assertTrue(ranOn[0], ranOn[0].startsWith("onnxruntime ") && ranOn[0].contains("CPU"));
        assertEquals(ranOn[0], ort.backend());
        float[] a = tract.probability();
        float[] b = ort.probability();
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        assertTrue("probabilities differ by " + worst, worst <= 1e-4);
        assertEquals(tract.nuclei().size(), ort.nuclei().size(), 1);
        assertEquals(tract.statistics().sum(), ort.statistics().sum(),
                0.01 * tract.statistics().sum());
    }

    @Test
    public void gpuWithoutCudaFallsBackToTheCpuAndSaysWhy() throws Exception {
        LOG.clear();
        String[] ranOn = new String[1];
        NucleiResult r = run(Backend.GPU, ranOn);
        assertTrue(ranOn[0], ranOn[0].contains("CPU"));
        assertTrue(r.nuclei().size() > 80);
        boolean said = false;
        for (String line : new ArrayList<>(LOG)) {
            said |= line.contains("CUDA is not available");
        }
        assertTrue("log: " + LOG, said);
    }

    @Test
    public void aWrongLibraryIsAClearError() throws Exception {
        SegmenterOptions options = SegmenterOptions.defaults().withBackend(Backend.CPU_ONNXRUNTIME)
                .withOnnxRuntimeLibrary(Paths.get("/nonexistent/libonnxruntime.so"));
        try (Segmenter s = Segmenter.open(TestData.model(), options)) {
            fail("opened on " + s.backend());
        } catch (BrightsegException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("not an ONNX Runtime library"));
        }
    }

    @Test
    public void backendsAreNamedLikeTheCommandLine() {
        assertEquals(Backend.CPU, Backend.fromLabel("tract"));
        assertEquals(Backend.CPU_ONNXRUNTIME, Backend.fromLabel("ort-cpu"));
        assertEquals(Backend.GPU, Backend.fromLabel("GPU (CUDA)"));
        assertEquals("ort-cuda", Backend.GPU.nativeName());
    }
}
