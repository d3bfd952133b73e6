package io.github.brightseg.fiji;

/**
 * What a Find … DNN command finds. Both commands share one implementation ({@link FindNucleiDnn});
 * this says where they differ: title, default population and image names, whether touching
 * objects are split, and whether the summary reports the share of the image covered.
 */
enum Population {
    /** Find Nuclei DNN. */
    NUCLEI("Find Nuclei DNN", "Nuclei", "Nuclei Prediction", true, false),
    /** Find Artifacts DNN. */
    ARTIFACTS("Find Artifacts DNN", "Artifacts", "Artifact Prediction", false, true);

    /** Summary column of the share covered (the CLI's find-artifacts has the same). */
    static final String COVERED_COLUMN = "Area Covered [%]";

    final String title;
    final String defaultPopulation;
    final String defaultImage;
    final boolean split;
    final boolean reportsCoverage;

    Population(String title, String defaultPopulation, String defaultImage, boolean split,
            boolean reportsCoverage) {
        this.title = title;
        this.defaultPopulation = defaultPopulation;
        this.defaultImage = defaultImage;
        this.split = split;
        this.reportsCoverage = reportsCoverage;
    }
}
