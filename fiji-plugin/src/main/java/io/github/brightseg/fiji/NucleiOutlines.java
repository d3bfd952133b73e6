package io.github.brightseg.fiji;

import java.util.ArrayList;
import java.util.List;

import ij.gui.Roi;
import ij.plugin.filter.ThresholdToSelection;
import ij.process.ByteProcessor;
import ij.process.ImageProcessor;

import io.github.brightseg.Nucleus;
import io.github.brightseg.NucleiResult;

/** Outlines of nuclei as ROIs, traced from the label image (holes included). */
final class NucleiOutlines {
    private NucleiOutlines() {
    }

    /** One ROI per nucleus, named {@code population-0001}, placed on (c, z, t) when in a stack. */
    static List<Roi> rois(NucleiResult r, String population, int c, int z, int t, boolean stack) {
        List<Roi> rois = new ArrayList<>(r.nuclei().size());
        int[] labels = r.labels();
        int width = r.width();
        for (Nucleus n : r.nuclei()) {
            int bx = n.bboxX();
            int by = n.bboxY();
            int bw = n.bboxWidth();
            int bh = n.bboxHeight();
            ByteProcessor mask = new ByteProcessor(bw, bh);
            byte[] m = (byte[]) mask.getPixels();
            for (int y = 0; y < bh; y++) {
                int row = (by + y) * width + bx;
                for (int x = 0; x < bw; x++) {
                    if (labels[row + x] == n.id()) {
                        m[y * bw + x] = (byte) 255;
                    }
                }
            }
            mask.setThreshold(255, 255, ImageProcessor.NO_LUT_UPDATE);
            Roi roi = ThresholdToSelection.run(new ij.ImagePlus("", mask));
            if (roi == null) {
                continue;
            }
            roi.setLocation(bx + roi.getXBase(), by + roi.getYBase());
            roi.setName(String.format("%s-%04d", population, n.id()));
            if (stack) {
                roi.setPosition(c, z, t);
            }
            rois.add(roi);
        }
        return rois;
    }
}
