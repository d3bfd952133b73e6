import ij.IJ;
import ij.ImagePlus;
import ij.measure.Calibration;

/** Opens an image with ImageJ 1.x and prints what ImageJ sees, for brightseg's end-to-end tests. */
public class DescribeImage {
    public static void main(String[] args) {
        ImagePlus imp = IJ.openImage(args[0]);
        if (imp == null) {
            System.out.println("UNREADABLE");
            System.exit(3);
        }
        Calibration c = imp.getCalibration();
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 1; i <= imp.getStackSize(); i++) {
            ij.process.ImageProcessor ip = imp.getStack().getProcessor(i);
            ip.resetMinAndMax();
            max = Math.max(max, ip.getMax());
        }
        System.out.println("unit=" + c.getUnit() + " pixelWidth=" + c.pixelWidth
                + " pixelHeight=" + c.pixelHeight + " bitDepth=" + imp.getBitDepth()
                + " width=" + imp.getWidth() + " height=" + imp.getHeight()
                + " channels=" + imp.getNChannels() + " slices=" + imp.getNSlices()
                + " frames=" + imp.getNFrames() + " max=" + max);
    }
}
