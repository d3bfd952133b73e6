package io.github.brightseg.fiji;

/**
 * {@code Plugins › brightseg › Find Artifacts DNN}: finds dust, fibres, bubbles and debris with
 * an artifact U-Net (e.g. the shipped {@code artifacts-brightfield}), in the style of Find Nuclei
 * DNN: threshold, minimum size, population "Artifacts", probability image, outlines, and the
 * Harmony statistics plus "Area Covered [%]". Artifacts are never split. Macro keys as Find
 * Nuclei DNN's ({@link FindNucleiSettings}).
 */
public class FindArtifactsDnn extends FindNucleiDnn {
    /** The command for the population "Artifacts". */
    public FindArtifactsDnn() {
        super(Population.ARTIFACTS);
    }
}
