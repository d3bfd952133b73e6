package io.github.brightseg.fiji;

import ij.ImagePlus;
import ij.measure.Calibration;
import ij.process.ColorProcessor;
import ij.process.ImageProcessor;

import io.github.brightseg.NucleiParams;
import io.github.brightseg.NucleiResult;
import io.github.brightseg.Segmenter;

/**
 * The only place that turns ImageJ images into what the Java API takes: channels of hyperstacks
 * and of RGB images, pixel arrays as ImageJ holds them (no conversion for 8-, 16- and 32-bit),
 * and the calibration in µm.
 */
final class ImagePlanes {
    private ImagePlanes() {
    }

    /** Channels of {@code imp}: hyperstack channels, or 3 for RGB unless it is grey. */
    static int channels(ImagePlus imp) {
        if (imp.getType() == ImagePlus.COLOR_RGB) {
            return isGrey(imp) ? 1 : 3;
        }
        return imp.getNChannels();
    }

    private static boolean isGrey(ImagePlus imp) {
        for (int i = 1; i <= imp.getStackSize(); i++) {
            int[] px = (int[]) imp.getStack().getProcessor(i).getPixels();
            for (int v : px) {
                int r = (v >> 16) & 0xff;
                int g = (v >> 8) & 0xff;
                int b = v & 0xff;
                if (r != g || g != b) {
                    return false;
                }
            }
        }
        return true;
    }

    /** Runs Find Nuclei on channel {@code c} (from 1) of plane ({@code z}, {@code t}). */
    static NucleiResult findNuclei(Segmenter segmenter, ImagePlus imp, int c, int z, int t,
            NucleiParams params) {
        int w = imp.getWidth();
        int h = imp.getHeight();
        if (imp.getType() == ImagePlus.COLOR_RGB) {
            ColorProcessor cp = (ColorProcessor) imp.getStack().getProcessor(imp.getStackIndex(1, z, t));
            byte[] channel = cp.getChannel(channels(imp) == 1 ? 1 : c);
            return segmenter.findNuclei(channel, w, h, params);
        }
        ImageProcessor ip = imp.getStack().getProcessor(imp.getStackIndex(c, z, t));
        Object pixels = ip.getPixels();
        if (pixels instanceof byte[]) {
            return segmenter.findNuclei((byte[]) pixels, w, h, params);
        } else if (pixels instanceof short[]) {
            return segmenter.findNuclei((short[]) pixels, w, h, params);
        } else if (pixels instanceof float[]) {
            return segmenter.findNuclei((float[]) pixels, w, h, params);
        }
        throw new IllegalArgumentException("unsupported image type: " + imp.getBitDepth() + "-bit");
    }

    /** A label plane as an exclusion mask: 1 where there is an object, else 0. */
    static byte[] mask(int[] labels) {
        byte[] mask = new byte[labels.length];
        for (int i = 0; i < labels.length; i++) {
            mask[i] = (byte) (labels[i] != 0 ? 1 : 0);
        }
        return mask;
    }

    /**
     * Microns per unit of a calibration unit, or NaN when it is not a length: the core's one
     * unit table (so "millimetre" counts here exactly as in a file's metadata).
     */
    static double micronsPerUnit(String unit) {
        return io.github.brightseg.NucleiParams.micronsPerUnit(unit);
    }

    /** Pixel width and height in µm, or null when the image has no length calibration. */
    static double[] pixelSizeUm(ImagePlus imp) {
        Calibration cal = imp.getCalibration();
        if (cal == null || !cal.scaled()) {
            return null;
        }
        double factor = micronsPerUnit(cal.getUnit());
        if (Double.isNaN(factor)) {
            return null;
        }
        return new double[] {cal.pixelWidth * factor, cal.pixelHeight * factor};
    }
}
