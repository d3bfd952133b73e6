package io.github.brightseg.fiji;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.awt.Rectangle;
import java.util.List;

import ij.gui.Line;
import ij.gui.OvalRoi;
import ij.gui.PointRoi;
import ij.gui.Roi;

import org.junit.Test;

/** ROIs drawn on an image become the label planes Train Nuclei DNN from ROIs trains on. */
public class RoiLabelsTest {
    private static Roi named(Roi roi, String name) {
        roi.setName(name);
        return roi;
    }

    private static int count(int[] labels, int value) {
        int n = 0;
        for (int v : labels) {
            n += v == value ? 1 : 0;
        }
        return n;
    }

    @Test
    public void nucleiAreNumberedBackgroundIsMinusOneAndTheRestUnlabelled() {
        Roi first = named(new OvalRoi(100, 100, 20, 20), "n1");
        Roi second = named(new OvalRoi(150, 100, 10, 10), "n2");
        Roi scribble = named(new Line(90, 140, 170, 140), "Background scribble");
        Roi patch = named(new Roi(200, 200, 8, 8), "background area");
        List<RoiLabels.Plane> planes = RoiLabels.planes(
                new Roi[] {first, second, scribble, patch}, 512, 512, 1, 1, 1, 1, 1,
                "background", 0, 64);
        assertEquals(1, planes.size());
        RoiLabels.Plane p = planes.get(0);
        assertEquals(2, p.nuclei);
        // Crop: the ROIs' bounds (90..208 × 100..208) grown by the margin.
        assertEquals(new Rectangle(58, 68, 182, 172), p.crop);
        int firstArea = first.getContainedPoints().length;
        assertEquals(firstArea, count(p.labels, 1));
        assertEquals(second.getContainedPoints().length, count(p.labels, 2));
        assertEquals(p.backgroundPixels, count(p.labels, -1));
        assertTrue("the scribble and the area: " + p.backgroundPixels,
                p.backgroundPixels >= 64 + 80);
        // The pixel at the first nucleus' centre, in crop coordinates.
        assertEquals(1, p.labels[(110 - 68) * p.crop.width + (110 - 58)]);
        assertEquals(0, p.labels[(180 - 68) * p.crop.width + (100 - 58)]);
    }

    @Test
    public void aScribbleAcrossANucleusLeavesTheNucleus() {
        Roi nucleus = new OvalRoi(10, 10, 20, 20);
        Roi scribble = named(new Line(0, 20, 40, 20), "background");
        RoiLabels.Plane p = RoiLabels.planes(new Roi[] {nucleus, scribble}, 64, 64, 1, 1, 1, 1, 1,
                "background", 0, 16).get(0);
        assertEquals(nucleus.getContainedPoints().length, count(p.labels, 1));
        assertTrue(count(p.labels, -1) > 0);
    }

    @Test
    public void eachPlaneWithRoisIsAFieldAndUnplacedRoisGoToTheShownPlane() {
        Roi onT3 = new OvalRoi(10, 10, 12, 12);
        onT3.setPosition(0, 1, 3); // hyperstack position: z 1, t 3
        Roi onStackIndex5 = new OvalRoi(30, 30, 12, 12);
        onStackIndex5.setPosition(5); // 2 channels × 1 z: index 5 is channel 1 of t 3
        Roi unplaced = new OvalRoi(40, 10, 12, 12);
        List<RoiLabels.Plane> planes = RoiLabels.planes(
                new Roi[] {onT3, onStackIndex5, unplaced}, 100, 100, 2, 1, 4, 1, 2, "background",
                0, 32);
        assertEquals(2, planes.size());
        assertEquals(2, planes.get(0).t);
        assertEquals(1, planes.get(0).nuclei);
        assertEquals(3, planes.get(1).t);
        assertEquals(2, planes.get(1).nuclei);
    }

    @Test
    public void aCropNearTheEdgeIsMovedInsideAndKeepsItsSize() {
        Roi corner = new OvalRoi(2, 2, 10, 10);
        RoiLabels.Plane p = RoiLabels.planes(new Roi[] {corner}, 1000, 800, 1, 1, 1, 1, 1,
                "background", 0, 256).get(0);
        assertEquals(new Rectangle(0, 0, 256, 256), p.crop);
        RoiLabels.Plane small = RoiLabels.planes(new Roi[] {corner}, 100, 90, 1, 1, 1, 1, 1,
                "background", 0, 256).get(0);
        assertEquals(new Rectangle(0, 0, 100, 90), small.crop);
    }

    @Test
    public void groupsMarkBackgroundToo() {
        Roi nucleus = new OvalRoi(10, 10, 12, 12);
        Roi grouped = new Roi(40, 40, 5, 5);
        grouped.setGroup(2);
        RoiLabels.Plane p = RoiLabels.planes(new Roi[] {nucleus, grouped}, 64, 64, 1, 1, 1, 1, 1,
                "", 2, 16).get(0);
        assertEquals(1, p.nuclei);
        assertEquals(25, p.backgroundPixels);
    }

    @Test
    public void whatCannotBeANucleusIsRefusedWithTheReason() {
        expect(new Roi[] {new PointRoi(5, 5)}, "outline nuclei with the oval");
        expect(new Roi[] {named(new Roi(1, 1, 5, 5), "background")}, "no ROI outlines a nucleus");
        Roi far = new OvalRoi(500, 500, 10, 10);
        expect(new Roi[] {far}, "lie outside the image");
        Roi wrongPlane = new OvalRoi(5, 5, 10, 10);
        wrongPlane.setPosition(0, 1, 9);
        expect(new Roi[] {wrongPlane}, "which the image (1 z, 2 t) does not have");
    }

    private static void expect(Roi[] rois, String message) {
        try {
            RoiLabels.planes(rois, 64, 64, 1, 1, 2, 1, 1, "background", 0, 16);
            fail("accepted: " + message);
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains(message));
        }
    }
}
