package io.github.brightseg;

/**
 * A failure of brightseg that is neither a bad argument ({@link IllegalArgumentException}) nor a
 * file problem ({@link java.io.IOException}): an unusable model, a backend failure, or an
 * internal error of the native code. The message says what happened and what to do.
 */
public class BrightsegException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** An exception with a message for the user. */
    public BrightsegException(String message) {
        super(message);
    }

    /** An exception with a message for the user and its cause. */
    public BrightsegException(String message, Throwable cause) {
        super(message, cause);
    }
}
