import java.awt.Button;
import java.awt.Frame;
import java.awt.Rectangle;
import java.awt.Robot;
import java.awt.Window;
import java.awt.event.ActionEvent;
import java.awt.image.BufferedImage;
import java.io.File;

import javax.imageio.ImageIO;

import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.GenericDialog;

/**
 * Screenshots for the README, taken from a real ImageJ under Xvfb: the Find Nuclei DNN dialog,
 * then the result (image with outlines, tables, ROI Manager). Run by scripts/screenshots.sh.
 * Arguments: image, output folder.
 */
public class TakeScreenshots {
    public static void main(String[] args) throws Exception {
        String image = args[0];
        File out = new File(args[1]);
        new ImageJ();
        Robot robot = new Robot();
        ImagePlus imp = IJ.openImage(image);
        imp.getCalibration().setUnit("micron");
        imp.getCalibration().pixelWidth = 0.5;
        imp.getCalibration().pixelHeight = 0.5;
        imp.show();
        IJ.wait(1500);
        Thread run = new Thread(() -> IJ.run(imp, "Find Nuclei DNN", ""));
        run.start();
        GenericDialog gd = null;
        for (int i = 0; i < 200 && gd == null; i++) {
            IJ.wait(100);
            gd = GenericDialog.getInstance();
        }
        if (gd == null) {
            throw new IllegalStateException("the dialog did not appear");
        }
        gd.setLocation(20, 20);
        gd.toFront();
        IJ.wait(1500);
        Rectangle b = gd.getBounds();
        ImageIO.write(robot.createScreenCapture(b), "png", new File(out, "fiji-dialog.png"));
        Button ok = gd.getButtons()[0];
        gd.actionPerformed(new ActionEvent(ok, ActionEvent.ACTION_PERFORMED, ok.getLabel()));
        run.join(300_000);
        IJ.wait(1500);
        // Lay the windows out side by side, then capture the screen.
        place(imp.getWindow(), 0, 0);
        place(WindowManager.getWindow("Nuclei Summary"), 560, 0);
        place(WindowManager.getWindow("Nuclei"), 560, 200);
        for (Frame f : Frame.getFrames()) {
            if (f.isShowing() && "ROI Manager".equals(f.getTitle())) {
                place(f, 1080, 200);
            }
            if (f.isShowing() && "Nuclei Prediction".equals(f.getTitle())) {
                place(f, 0, 620);
            }
        }
        if (IJ.getInstance() != null) {
            IJ.getInstance().setLocation(560, 880);
        }
        IJ.wait(2000);
        BufferedImage screen = robot.createScreenCapture(new Rectangle(0, 0, 1280, 1000));
        ImageIO.write(screen, "png", new File(out, "fiji-result.png"));
        System.exit(0);
    }

    private static void place(Window w, int x, int y) {
        if (w != null) {
            w.setLocation(x, y);
            if (w.getWidth() > 520 && x == 560) {
                w.setSize(Math.min(w.getWidth(), 700), Math.min(w.getHeight(), 190));
            }
            w.toFront();
        }
    }
}
