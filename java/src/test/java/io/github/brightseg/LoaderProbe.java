package io.github.brightseg;

/** Run in a child JVM by {@link NativeLoaderTest}: prints the native version, or the error. */
public final class LoaderProbe {
    private LoaderProbe() {
    }

    public static void main(String[] args) {
        try {
            System.out.println("VERSION " + Segmenter.nativeVersion());
        } catch (BrightsegException e) {
            System.out.println("ERROR " + e.getMessage().replace('\n', ' '));
        }
    }
}
