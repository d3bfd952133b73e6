package io.github.brightseg.fiji;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

import ij.IJ;
import ij.ImagePlus;
import ij.io.FileSaver;
import ij.measure.ResultsTable;
import ij.process.ColorProcessor;

/**
 * The command run in this JVM without a display, as a headless server runs it: through
 * {@link Brightseg#findNuclei}, with a real model and a real image.
 */
public class FindNucleiDnnTest {
    /** The calibrated input image's folder, removed after the class. */
    @ClassRule
    public static TemporaryFolder inputs = new TemporaryFolder();
    /** Folders single tests make, removed after each. */
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();
    private static String model;
    private static Path image;

    private static Path require(String property, String relative) {
        File f = new File(System.getProperty(property, "/nonexistent"), relative);
        if (!f.exists()) {
            String message = "test input missing: " + f + " (run scripts/fetch-data.sh)";
            if ("true".equals(System.getenv("CI"))) {
                fail(message);
            }
            assumeTrue(message, false);
        }
        return f.toPath();
    }

    @BeforeClass
    public static void inputs() throws Exception {
        model = require("brightseg.test.model", "").toString();
        // A calibrated copy of the real image (0.5 µm pixels), as a microscope would save it.
        ImagePlus imp = IJ.openImage(require("brightseg.test.data", "stardist/img2d.tif").toString());
        imp.getCalibration().setUnit("micron");
        imp.getCalibration().pixelWidth = 0.5;
        imp.getCalibration().pixelHeight = 0.5;
        image = inputs.newFolder("brightseg-fiji").toPath().resolve("calibrated.tif");
        assertTrue(new FileSaver(imp).saveAsTiff(image.toString()));
    }

    @Test
    public void findsNucleiAndFillsTheTables() {
        String error = Brightseg.findNuclei(image.toString(),
                "model=[" + model + "] threshold=0.5 minimum=10 population=Nuclei label");
        assertEquals("", error);
        assertEquals("", Brightseg.lastError());
        ResultsTable objects = Brightseg.table("Nuclei");
        ResultsTable summary = Brightseg.table("Nuclei Summary");
        assertNotNull(objects);
        assertNotNull(summary);
        int count = Integer.parseInt(Brightseg.summary("Number of Objects"));
        assertTrue("count " + count, count > 60);
        assertEquals(count, objects.size());
        double sum = 0;
        for (int i = 0; i < objects.size(); i++) {
            double area = objects.getValue("Area [µm²]", i);
            assertTrue(area >= 10);
            sum += area;
        }
        assertEquals(sum, Double.parseDouble(Brightseg.summary("Size [µm²] Sum")), 1e-6);
        assertEquals("calibrated.tif", Brightseg.summary("Image"));
        assertEquals("", Brightseg.summary("Message"));
        assertEquals("0.5", Brightseg.summary("Pixel Size [µm]"));
        assertTrue(Brightseg.summary("Backend").startsWith("tract"));
        // The fit signal is in the summary; this third-party model states no level of its own,
        // so nothing is flagged (the Message above is empty).
        double uncertain = Double.parseDouble(Brightseg.summary("Uncertain Pixels [%]"));
        assertTrue("uncertain " + uncertain, uncertain > 0 && uncertain < 100);
        // A second image appends to the summary; the object table holds the latest image.
        int rows = summary.size();
        assertEquals("", Brightseg.findNuclei(image.toString(), "model=[" + model + "] minimum=40"));
        assertEquals(rows + 1, Brightseg.table("Nuclei Summary").size());
        assertTrue(Brightseg.table("Nuclei").size() < count);
        String csv = Brightseg.csv(Brightseg.table("Nuclei Summary"));
        assertTrue(csv, csv.startsWith("Image,Channel,T,Z,Status,Message,Number of Objects,"));
    }

    @Test
    public void anImageFromAPlateGetsPlateWellAndFieldColumns() throws Exception {
        // A Harmony export's field, named and placed as the instrument writes it.
        Path images = tmp.newFolder("Screen-7", "Images").toPath();
        Path field = images.resolve("r02c03f04p01-ch1sk1fk1fl1.tiff");
        Files.copy(image, field);
        assertEquals("", Brightseg.findNuclei(field.toString(),
                "model=[" + model + "] population=PlateNuclei"));
        ResultsTable summary = Brightseg.table("PlateNuclei Summary");
        int last = summary.size() - 1;
        assertEquals("Screen-7", summary.getStringValue("Plate", last));
        assertEquals("B03", summary.getStringValue("Well", last));
        assertEquals("4", summary.getStringValue("Field", last));
        String csv = Brightseg.csv(summary);
        assertTrue(csv, csv.startsWith("Plate,Well,Field,Image,Channel,T,Z,Status,"));
        ResultsTable objects = Brightseg.table("PlateNuclei");
        assertTrue(objects.size() > 60);
        assertEquals("B03", objects.getStringValue("Well", objects.size() - 1));
    }

    @Test
    public void aColourImageNeedsAChannelAndABadModelIsAnError() throws Exception {
        ColorProcessor cp = new ColorProcessor(64, 64);
        for (int i = 0; i < 64 * 64; i++) {
            cp.set(i, (i * 7919) & 0xffffff);
        }
        Path rgb = tmp.newFolder("brightseg-rgb").toPath().resolve("rgb.tif");
        assertTrue(new FileSaver(new ImagePlus("rgb", cp)).saveAsTiff(rgb.toString()));
        String error = Brightseg.findNuclei(rgb.toString(), "model=[" + model + "]");
        assertTrue(error, error.contains("has 3 channels"));
        assertEquals(error, Brightseg.lastError());
        assertEquals("", Brightseg.findNuclei(rgb.toString(), "channel=2 model=[" + model + "]"));
        error = Brightseg.findNuclei(image.toString(), "model=/no/such/model");
        assertTrue(error, error.contains("not found"));
        error = Brightseg.findNuclei("/no/such/image.tif", "model=[" + model + "]");
        assertTrue(error, error.contains("cannot open image"));
        assertEquals("false", Brightseg.succeeded());
    }
}
