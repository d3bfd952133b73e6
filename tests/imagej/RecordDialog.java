import java.awt.Button;
import java.awt.TextField;
import java.awt.event.ActionEvent;

import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.gui.GenericDialog;
import ij.plugin.frame.Recorder;

/**
 * Drives a brightseg dialog in a real ImageJ window (under Xvfb) with the macro recorder on:
 * opens the image, runs the command, types the given values into its fields, presses OK, and
 * prints what the recorder wrote for the command as a line starting with RECORDED. Used by
 * tests/e2e/fiji.rs.
 *
 * <p>Arguments: the image, the command ("Find Nuclei DNN"), then edits: {@code nK=value} sets
 * the K-th numeric field, {@code sK=value} the K-th text field, {@code cK=item} selects an item
 * of the K-th choice as a user would (its listeners hear of it); all counted from 0.
 */
public class RecordDialog {
    public static void main(String[] args) throws Exception {
        new ImageJ();
        Recorder recorder = new Recorder();
        ImagePlus imp = IJ.openImage(args[0]);
        imp.show();
        IJ.wait(500);
        String command = args[1];
        Thread run = new Thread(() -> IJ.doCommand(command));
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
        // The dialog's messages and labels, as the user reads them.
        printTexts(gd);
        for (int a = 2; a < args.length; a++) {
            int eq = args[a].indexOf('=');
            int index = Integer.parseInt(args[a].substring(1, eq));
            String value = args[a].substring(eq + 1);
            if (args[a].charAt(0) == 'c') {
                java.awt.Choice choice = (java.awt.Choice) gd.getChoices().get(index);
                choice.select(value);
                java.awt.event.ItemEvent event = new java.awt.event.ItemEvent(choice,
                        java.awt.event.ItemEvent.ITEM_STATE_CHANGED, value,
                        java.awt.event.ItemEvent.SELECTED);
                for (java.awt.event.ItemListener l : choice.getItemListeners()) {
                    l.itemStateChanged(event);
                }
                continue;
            }
            java.util.Vector<?> fields = args[a].charAt(0) == 'n'
                    ? gd.getNumericFields() : gd.getStringFields();
            ((TextField) fields.get(index)).setText(value);
        }
        Button ok = gd.getButtons()[0];
        gd.actionPerformed(new ActionEvent(ok, ActionEvent.ACTION_PERFORMED, ok.getLabel()));
        run.join(300_000);
        for (int i = 0; i < 3000 && !recorder.getText().contains(command); i++) {
            IJ.wait(100); // doCommand returns at once; the recorder writes when the command ends
        }
        IJ.wait(500);
        for (String line : recorder.getText().split("\n")) {
            if (line.contains(command)) {
                System.out.println("RECORDED " + line);
            }
        }
        System.out.flush();
        System.exit(0);
    }

    /** Prints the text of every label in {@code c} and its children as a NOTE line. */
    private static void printTexts(java.awt.Component c) {
        if (c instanceof ij.gui.MultiLineLabel) {
            // No getter in every ImageJ 1.x: read its (package-private) lines.
            try {
                java.lang.reflect.Field f = ij.gui.MultiLineLabel.class.getDeclaredField("lines");
                f.setAccessible(true);
                System.out.println("NOTE " + String.join(" ", (String[]) f.get(c)));
            } catch (ReflectiveOperationException e) {
                System.out.println("NOTE (unreadable label: " + e + ")");
            }
        } else if (c instanceof java.awt.Label) {
            System.out.println("NOTE " + ((java.awt.Label) c).getText());
        } else if (c instanceof java.awt.Container) {
            for (java.awt.Component child : ((java.awt.Container) c).getComponents()) {
                printTexts(child);
            }
        }
    }
}
