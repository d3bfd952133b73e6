package io.github.brightseg.fiji;

import java.awt.Point;
import java.awt.Rectangle;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import ij.gui.Roi;

/**
 * Nuclei outlined as ROIs, turned into training labels for one image: every area ROI is a
 * nucleus (1, 2, … in ROI order; where two overlap the later one wins), every ROI whose name
 * starts with the background prefix (or that is in the background group) marks sure background
 * (−1; lines and points too, as scribbles), and every other pixel is 0 (unlabelled, or
 * background when the labels are complete).
 *
 * <p>A ROI belongs to the plane (z, t) its position names, as the ROI Manager stores it with
 * "Associate with slices" or a hyperstack position; a ROI without a position belongs to the
 * plane the image shows. Each plane that has ROIs is one training field, cropped to the
 * ROIs' bounds with a margin (and at least a given size where the image allows: the plugin asks
 * for two training patches, so a field resampled to a coarser model still holds a patch and a
 * validation strip), so the validation strip the trainer holds out (the field's right-hand part)
 * has labelled nuclei in it.
 */
final class RoiLabels {
    /** Pixels kept around the ROIs' bounds. */
    static final int MARGIN = 32;

    /** One plane's labels, cropped. */
    static final class Plane {
        final int z;
        final int t;
        final Rectangle crop;
        final int[] labels;
        int nuclei;
        int backgroundPixels;

        Plane(int z, int t, Rectangle crop) {
            this.z = z;
            this.t = t;
            this.crop = crop;
            this.labels = new int[crop.width * crop.height];
        }
    }

    private RoiLabels() {
    }

    /** Whether {@code roi} marks background: its name starts with the prefix, or its group. */
    static boolean isBackground(Roi roi, String prefix, int group) {
        String name = roi.getName();
        boolean named = !prefix.isEmpty() && name != null
                && name.toLowerCase(Locale.ROOT).startsWith(prefix.toLowerCase(Locale.ROOT));
        return named || (group > 0 && roi.getGroup() == group);
    }

    /**
     * The planes of an image {@code width} × {@code height} with {@code channels} channels,
     * {@code slices} z planes and {@code frames} time points that the ROIs label, in order of
     * (t, z). {@code currentZ} and
     * {@code currentT} (from 1) place ROIs without a position; {@code minSize} is the smallest
     * crop side.
     *
     * @throws IllegalArgumentException when no ROI outlines a nucleus, a nucleus ROI is not an
     *     area, or a ROI lies outside the image
     */
    static List<Plane> planes(Roi[] rois, int width, int height, int channels, int slices,
            int frames,
            int currentZ, int currentT, String backgroundPrefix, int backgroundGroup,
            int minSize) {
        Map<Long, List<Roi>> byPlane = new LinkedHashMap<>();
        int nuclei = 0;
        for (Roi roi : rois) {
            boolean background = isBackground(roi, backgroundPrefix, backgroundGroup);
            if (!background && !roi.isArea()) {
                throw new IllegalArgumentException("ROI \"" + roi.getName() + "\" is a "
                        + roi.getTypeAsString().toLowerCase(Locale.ROOT) + ": outline nuclei with "
                        + "the oval, polygon or freehand tool, or name it \"" + backgroundPrefix
                        + "…\" to mark background");
            }
            nuclei += background ? 0 : 1;
            int[] zt = position(roi, channels, slices, frames, currentZ, currentT);
            byPlane.computeIfAbsent((long) zt[1] << 32 | zt[0], k -> new ArrayList<>()).add(roi);
        }
        if (nuclei == 0) {
            throw new IllegalArgumentException("no ROI outlines a nucleus: outline nuclei with the "
                    + "oval or freehand tool and add each to the ROI Manager (press t)");
        }
        List<Plane> planes = new ArrayList<>();
        byPlane.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            int z = (int) (e.getKey() & 0xffffffffL);
            int t = (int) (e.getKey() >>> 32);
            planes.add(fill(e.getValue(), width, height, z, t, backgroundPrefix, backgroundGroup,
                    minSize));
        });
        return planes;
    }

    /** The (z, t) of a ROI, from 1. */
    private static int[] position(Roi roi, int channels, int slices, int frames, int currentZ,
            int currentT) {
        int z = currentZ;
        int t = currentT;
        if (roi.hasHyperStackPosition()) {
            z = roi.getZPosition() > 0 ? roi.getZPosition() : currentZ;
            t = roi.getTPosition() > 0 ? roi.getTPosition() : currentT;
        } else if (roi.getPosition() > 0) {
            // A stack index, in ImageJ's order: channels vary fastest, then z, then t.
            int index = roi.getPosition() - 1;
            z = index / channels % slices + 1;
            t = index / (channels * slices) + 1;
        }
        if (z < 1 || z > slices || t < 1 || t > frames) {
            throw new IllegalArgumentException("ROI \"" + roi.getName() + "\" is on plane z" + z
                    + " t" + t + ", which the image (" + slices + " z, " + frames
                    + " t) does not have");
        }
        return new int[] {z, t};
    }

    private static Plane fill(List<Roi> rois, int width, int height, int z, int t,
            String backgroundPrefix, int backgroundGroup, int minSize) {
        Rectangle bounds = null;
        for (Roi roi : rois) {
            Rectangle b = roi.getBounds();
            bounds = bounds == null ? new Rectangle(b) : bounds.union(b);
        }
        if (bounds == null || !bounds.intersects(new Rectangle(0, 0, width, height))) {
            throw new IllegalArgumentException("the ROIs of plane z" + z + " t" + t
                    + " lie outside the image");
        }
        Rectangle crop = inside(grow(bounds, MARGIN, minSize), width, height);
        Plane plane = new Plane(z, t, crop);
        int id = 0;
        for (Roi roi : rois) {
            boolean background = isBackground(roi, backgroundPrefix, backgroundGroup);
            Roi area = background && !roi.isArea() ? Roi.convertLineToArea(roi) : roi;
            int value = background ? -1 : ++id;
            Point[] points = area == null || roi.getType() == Roi.POINT
                    ? roi.getContainedPoints() : area.getContainedPoints();
            for (Point p : points) {
                if (crop.contains(p)) {
                    int i = (p.y - crop.y) * crop.width + (p.x - crop.x);
                    if (background && plane.labels[i] > 0) {
                        continue; // a scribble across a nucleus leaves the nucleus
                    }
                    plane.labels[i] = value;
                }
            }
        }
        for (int v : plane.labels) {
            plane.backgroundPixels += v < 0 ? 1 : 0;
        }
        plane.nuclei = id;
        return plane;
    }

    /** {@code r} moved into a {@code width} × {@code height} image, and cut where larger. */
    static Rectangle inside(Rectangle r, int width, int height) {
        Rectangle m = new Rectangle(r);
        m.x = Math.max(0, Math.min(m.x, width - m.width));
        m.y = Math.max(0, Math.min(m.y, height - m.height));
        return m.intersection(new Rectangle(0, 0, width, height));
    }

    /** {@code r} grown by {@code margin} on each side, then to at least {@code min} per side. */
    static Rectangle grow(Rectangle r, int margin, int min) {
        Rectangle g = new Rectangle(r.x - margin, r.y - margin, r.width + 2 * margin,
                r.height + 2 * margin);
        if (g.width < min) {
            g.x -= (min - g.width) / 2;
            g.width = min;
        }
        if (g.height < min) {
            g.y -= (min - g.height) / 2;
            g.height = min;
        }
        return g;
    }
}
