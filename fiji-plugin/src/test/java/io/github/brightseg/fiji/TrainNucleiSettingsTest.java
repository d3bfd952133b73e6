package io.github.brightseg.fiji;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Macro keys of Train Nuclei DNN and the pairing of separate channel files. */
public class TrainNucleiSettingsTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void everyFieldHasItsOwnMacroKey() {
        List<String> labels = Arrays.asList(TrainNucleiSettings.SOURCE, TrainNucleiSettings.INPUT,
                TrainNucleiSettings.SEPARATE, TrainNucleiSettings.BRIGHTFIELD,
                TrainNucleiSettings.STAIN, TrainNucleiSettings.NAME, TrainNucleiSettings.SAVE,
                TrainNucleiSettings.TIME, TrainNucleiSettings.ARCHITECTURE,
                TrainNucleiSettings.EPOCHS, TrainNucleiSettings.PIXEL, TrainNucleiSettings.MINIMUM,
                TrainNucleiSettings.THRESHOLD, TrainNucleiSettings.START,
                TrainNucleiSettings.REPLACE);
        HashSet<String> keys = new HashSet<>();
        for (String label : labels) {
            String key = TrainNucleiSettings.key(label);
            // ImageJ's own derivation of the key from a label agrees with ours.
            assertEquals(key, ij.Macro.trimKey(label.split(" ")[0].toLowerCase()));
            keys.add(key);
        }
        assertEquals(labels.size(), keys.size());
        assertEquals("separate", TrainNucleiSettings.key(TrainNucleiSettings.SEPARATE));
    }

    @Test
    public void separateChannelFilesNeedTwoPartsAndAFolder() {
        TrainNucleiSettings s = TrainNucleiSettings.fromMacro(
                "source=Folder input=/data separate=[-ch2, -ch1] name=m", "/models");
        assertArrayEquals(new String[] {"-ch2", "-ch1"}, s.separateFileParts());
        assertNull(TrainNucleiSettings.fromMacro("name=m", "/models").separateFileParts());
        for (String bad : new String[] {"-ch2", "-ch2,", "-ch1,-ch1", "a,b,c"}) {
            try {
                TrainNucleiSettings.fromMacro(
                        "source=Folder input=/data separate=[" + bad + "] name=m", "/models");
                fail("separate=" + bad + " was accepted");
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("two different parts"));
            }
        }
        try {
            TrainNucleiSettings.fromMacro(
                    "source=[All open images] separate=[-ch2,-ch1] name=m", "/models");
            fail("separate files without a folder were accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("source=Folder"));
        }
    }

    private File[] files(String... names) throws IOException {
        File[] out = new File[names.length];
        for (int i = 0; i < names.length; i++) {
            out[i] = tmp.newFile(names[i]);
            Files.write(out[i].toPath(), new byte[] {0});
        }
        return out;
    }

    @Test
    public void brightfieldFilesPairWithTheStainFileNamedAlike() throws IOException {
        File[] files = files("r01c01f01-ch1.tif", "r01c01f01-ch2.tif", "r01c01f02-ch1.tif",
                "r01c01f02-ch2.tif");
        List<File[]> pairs = TrainNucleiDnn.pairChannelFiles(files, "-ch2", "-ch1");
        assertEquals(2, pairs.size());
        assertEquals("r01c01f01-ch2.tif", pairs.get(0)[0].getName());
        assertEquals("r01c01f01-ch1.tif", pairs.get(0)[1].getName());
        assertEquals("r01c01f02-ch1.tif", pairs.get(1)[1].getName());
        File[] lonely = files("r02c01f01-ch2.tif");
        try {
            TrainNucleiDnn.pairChannelFiles(lonely, "-ch2", "-ch1");
            fail("a brightfield file without its stain was accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("no stain file r02c01f01-ch1.tif"));
        }
        try {
            TrainNucleiDnn.pairChannelFiles(files, "-ch3", "-ch1");
            fail("no brightfield file was accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("\"-ch3\""));
        }
    }
}
