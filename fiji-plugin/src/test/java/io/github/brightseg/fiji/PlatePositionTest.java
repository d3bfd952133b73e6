package io.github.brightseg.fiji;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import org.junit.Test;

/** Plate, well and field from the names instruments and Bio-Formats give images. */
public class PlatePositionTest {
    private static String of(String title, String directory) {
        PlatePosition p = PlatePosition.of(title, directory);
        return p == null ? null : p.plate + " " + p.well + " " + p.field;
    }

    @Test
    public void instrumentExportsAndBioFormatsSeries() {
        assertEquals("Screen-7 C05 2",
                of("r03c05f02p01-ch1sk1fk1fl1.tiff", "/data/Screen-7/Images/"));
        assertEquals("P1 P24 10", of("r16c24f10p01-ch2sk1fk1fl1.tiff", "/data/P1"));
        assertEquals("Plate_0042 B03 2",
                of("Plate_0042_B3_s2_w1A1B2C3.TIF", "/mx/Plate_0042/TimePoint_1/"));
        assertEquals("Screen_1 C07 3",
                of("AssayPlate_Greiner_#781091_C07_T0012F003L01A02Z01C02.tif", "/cv/Screen_1"));
        assertEquals("plate B02 1", of("plate.ome.tif - Well B02, Field #1", "/data"));
        assertEquals("data H12 12", of("Well H12, Field #12", "/data"));
    }

    @Test
    public void otherNamesAreNotPlaces() {
        assertNull(of("calibrated.tif", "/tmp/brightseg-fiji"));
        assertNull(of("blobs.gif", ""));
        assertNull(of("r40c01f01p01-ch1sk1fk1fl1.tiff", "/data/P"));
    }
}
