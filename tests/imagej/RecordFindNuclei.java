import java.awt.Button;
import java.awt.TextField;
import java.awt.event.ActionEvent;

import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.gui.GenericDialog;
import ij.plugin.frame.Recorder;

/**
 * Drives the Find Nuclei DNN dialog in a real ImageJ window (under Xvfb) with the macro recorder
 * on: sets Threshold 0.45 and Minimum size 12, presses OK, and prints what the recorder wrote as
 * a line starting with RECORDED. Used by tests/e2e/fiji.rs. Argument: the image.
 */
public class RecordFindNuclei {
    public static void main(String[] args) throws Exception {
        new ImageJ();
        Recorder recorder = new Recorder();
        ImagePlus imp = IJ.openImage(args[0]);
        imp.show();
        IJ.wait(500);
        Thread run = new Thread(() -> IJ.doCommand("Find Nuclei DNN"));
        run.start();
        GenericDialog gd = null;
        for (int i = 0; i < 300 && gd == null; i++) {
            IJ.wait(100);
            gd = GenericDialog.getInstance();
        }
        if (gd == null) {
            System.out.println("RECORDED no dialog appeared");
            System.exit(2);
        }
        IJ.wait(300);
        ((TextField) gd.getNumericFields().get(0)).setText("0.45");
        ((TextField) gd.getNumericFields().get(1)).setText("12");
        Button ok = gd.getButtons()[0];
        gd.actionPerformed(new ActionEvent(ok, ActionEvent.ACTION_PERFORMED, ok.getLabel()));
        run.join(300_000);
        for (int i = 0; i < 3000 && !recorder.getText().contains("Find Nuclei DNN"); i++) {
            IJ.wait(100); // doCommand returns at once; the recorder writes when the command ends
        }
        IJ.wait(500);
        for (String line : recorder.getText().split("\n")) {
            if (line.contains("Find Nuclei DNN")) {
                System.out.println("RECORDED " + line);
            }
        }
        System.out.flush();
        System.exit(0);
    }
}
