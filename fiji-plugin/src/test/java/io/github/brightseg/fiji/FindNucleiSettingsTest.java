package io.github.brightseg.fiji;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;

import org.junit.Test;

import io.github.brightseg.Backend;
import io.github.brightseg.Refinement;

/** Macro keys and option parsing of Find Nuclei DNN. */
public class FindNucleiSettingsTest {
    private static final List<String> LABELS = Arrays.asList(FindNucleiSettings.CHANNEL,
            FindNucleiSettings.MODEL, FindNucleiSettings.CUSTOM, FindNucleiSettings.THRESHOLD,
            FindNucleiSettings.MINIMUM, FindNucleiSettings.POPULATION, FindNucleiSettings.IMAGE,
            FindNucleiSettings.PROBABILITY, FindNucleiSettings.LABEL, FindNucleiSettings.OUTLINES,
            FindNucleiSettings.BACKEND, FindNucleiSettings.ONNX_RUNTIME, FindNucleiSettings.MEMORY,
            FindNucleiSettings.REFINE);

    @Test
    public void everyFieldHasItsOwnMacroKey() {
        List<String> keys = Arrays.asList("channel", "model", "custom", "threshold", "minimum",
                "population", "image", "probability", "label", "outlines", "backend", "onnx",
                "memory", "refine");
        for (int i = 0; i < LABELS.size(); i++) {
            assertEquals(keys.get(i), FindNucleiSettings.key(LABELS.get(i)));
            // ImageJ's own derivation of the key from a label agrees with ours.
            assertEquals(keys.get(i), ij.Macro.trimKey(LABELS.get(i).split(" ")[0].toLowerCase()));
        }
        assertEquals(keys.size(), new HashSet<>(keys).size());
    }

    @Test
    public void parsesARecordedMacroLine() {
        FindNucleiSettings s = FindNucleiSettings.fromMacro("channel=2 model=nuclei-brightfield "
                + "threshold=0.6 minimum=12.5 population=Kerne image=[Kerne Prediction] "
                + "refine=none probability outlines backend=CPU");
        assertEquals(2, s.channel);
        assertEquals("nuclei-brightfield", s.model);
        assertEquals(0.6, s.threshold, 0);
        assertEquals(12.5, s.minimumUm2, 0);
        assertEquals("Kerne", s.population);
        assertEquals("Kerne Prediction", s.imageName);
        assertTrue(s.probability);
        assertFalse(s.labelImage);
        assertTrue(s.outlines);
        assertEquals(Backend.CPU, s.backend);
        assertEquals(Refinement.NONE, s.refinement);
    }

    @Test
    public void missingValuesMeanModelDefaultsAndCustomGivesTheFolder() {
        FindNucleiSettings s = FindNucleiSettings.fromMacro("model=[Custom...] custom=[/models/my model]");
        assertEquals("/models/my model", s.model);
        assertEquals(0, s.channel);
        assertTrue(Double.isNaN(s.threshold));
        assertTrue(Double.isNaN(s.minimumUm2));
        assertEquals("Nuclei", s.population);
        assertFalse(s.probability || s.labelImage || s.outlines);
        assertEquals(Backend.AUTO, s.backend);
        assertEquals(Refinement.MODEL_DEFAULT, s.refinement);
        assertEquals(Refinement.DARK,
                FindNucleiSettings.fromMacro("model=m refine=Dark").refinement);
        FindNucleiSettings chosen = FindNucleiSettings.fromMacro("model=[Custom...] custom=[] folder=/m/x/");
        assertEquals("/m/x/", chosen.model);
    }

    @Test
    public void badOptionsAreRefusedWithAMessage() {
        String[][] cases = {
            {"threshold=0.5", "no model given"},
            {"model=m threshold=1.5", "outside [0, 1]"},
            {"model=m threshold=half", "not a number"},
            {"model=m minimum=-3", "minimum size"},
            {"model=m channel=two", "not a channel number"},
            {"model=m channel=0", "count from 1"},
            {"model=m backend=TPU", "unknown backend"},
            {"model=m population=[]", "population name is empty"},
            {"model=m memory=-5", "memory budget"},
            {"model=m memory=lots", "not a number"},
            {"model=m refine=sharpen", "refinement 'sharpen'"},
        };
        for (String[] c : cases) {
            try {
                FindNucleiSettings.fromMacro(c[0]);
                fail("accepted " + c[0]);
            } catch (IllegalArgumentException e) {
                assertTrue(c[0] + " -> " + e.getMessage(), e.getMessage().contains(c[1]));
            }
        }
    }

    @Test
    public void summaryColumnsAreFoundHoweverMicronsAreWritten() {
        String key = Brightseg.columnKey("Size [µm²] Mean");
        assertEquals("sizeum2mean", key);
        assertEquals(key, Brightseg.columnKey("Size [um2] Mean"));
        assertEquals(key, Brightseg.columnKey("size [um^2] mean"));
        // UTF-8 read as Latin-1, and as ASCII (replacement characters).
        assertEquals(key, Brightseg.columnKey("Size [\u00c2\u00b5m\u00c2\u00b2] Mean"));
        assertEquals(key, Brightseg.columnKey("Size [\ufffd\ufffdm\ufffd\ufffd] Mean"));
        assertEquals("sizeum2cv%", Brightseg.columnKey("Size [µm²] CV %"));
    }

    /**
     * Macro options fuzzed: seeded random mixes of real keys, values, brackets, quotes and
     * garbage give settings or an IllegalArgumentException with a message, never another
     * exception (which would surface as a stack trace in the macro).
     */
    @Test
    public void randomMacroOptionsGiveSettingsOrAMessage() {
        String[] pieces = {"channel=", "model=", "custom=", "threshold=", "minimum=",
            "population=", "image=", "probability", "label", "outlines", "backend=", "onnx=",
            "memory=", "folder=", "[", "]", " ", "  ", "=", "\"", "'", "0", "-1", "1e309", "NaN",
            "0.5", "m", "Custom...", "CPU", "GPU (CUDA)", "\u00b5m\u00b2", "\t", "\n", "[a b]",
            "999999999999", "x".repeat(300)};
        java.util.Random random = new java.util.Random(0xb5e6);
        int parsed = 0;
        for (int i = 0; i < 20000; i++) {
            StringBuilder options = new StringBuilder();
            for (int n = random.nextInt(12); n > 0; n--) {
                options.append(pieces[random.nextInt(pieces.length)]);
                if (random.nextBoolean()) {
                    options.append(' ');
                }
            }
            try {
                FindNucleiSettings s = FindNucleiSettings.fromMacro(options.toString());
                assertFalse(s.model.isEmpty());
                parsed++;
            } catch (IllegalArgumentException e) {
                assertTrue(options + " gives no message", e.getMessage() != null
                        && !e.getMessage().isEmpty());
            }
        }
        assertTrue("some random options parse: " + parsed, parsed > 100);
    }
}
