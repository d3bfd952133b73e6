package io.github.brightseg;

import java.nio.file.Paths;

/**
 * A short, fixed tour of the JNI bridge for memory checkers (scripts/valgrind-jni.sh): one real
 * image, then each kind of garbage the bridge must refuse, each ending in a Java exception.
 * Prints how many of the bad calls were refused; exits 1 when one was not.
 */
public final class JniProbe {
    private JniProbe() {}

    public static void main(String[] args) throws Exception {
        TestData.Image16 image = TestData.read16(Paths.get(args[1]));
        NucleiParams params = NucleiParams.defaults();
        int refused = 0;
        Runnable[] garbage;
        try (Segmenter s = Segmenter.open(Paths.get(args[0]),
                SegmenterOptions.defaults().withThreads(2))) {
            NucleiResult r = s.findNuclei(image.pixels, image.width, image.height, params);
            System.out.println("nuclei " + r.statistics().count());
            float[] nan = new float[64 * 64];
            nan[5] = Float.NaN;
            garbage = new Runnable[] {
                () -> s.findNuclei(new short[10], image.width, image.height, params),
                () -> s.findNuclei((short[]) null, 4, 4, params),
                () -> s.findNuclei(new short[16], -4, -4, params),
                () -> s.findNuclei(new byte[16], 4, 4, params.withThreshold(2)),
                () -> s.findNuclei(nan, 64, 64, params),
                () -> NativeLib.modelName(424242),
                () -> NativeLib.call(() -> {
                    NativeLib.selfTestPanic("probe");
                    return null;
                }),
            };
            for (Runnable call : garbage) {
                try {
                    call.run();
                } catch (RuntimeException e) {
                    refused++;
                }
            }
            System.out.println("again " + s.findNuclei(image.pixels, image.width, image.height,
                    params).statistics().count());
        }
        System.out.println("refused " + refused + " of " + garbage.length);
        System.exit(refused == garbage.length ? 0 : 1);
    }
}
