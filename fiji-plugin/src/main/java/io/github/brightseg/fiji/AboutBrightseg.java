package io.github.brightseg.fiji;

import java.nio.file.Path;

import ij.IJ;
import ij.plugin.PlugIn;

import io.github.brightseg.Models;
import io.github.brightseg.Segmenter;

/** {@code Plugins › brightseg › About brightseg}: versions and the models found, in the log. */
public class AboutBrightseg implements PlugIn {
    @Override
    public void run(String arg) {
        try {
            IJ.log("brightseg " + Segmenter.nativeVersion() + " (native library loaded)");
            IJ.log("Models searched in: " + FindNucleiDnn.searchPath());
            for (Path model : Models.discover(FindNucleiDnn.searchPath())) {
                IJ.log("  " + model.getFileName() + "  —  " + model);
            }
        } catch (RuntimeException | LinkageError e) {
            IJ.log("brightseg cannot start: " + e.getMessage());
        }
    }
}
