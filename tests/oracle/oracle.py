"""Reference computations by trusted libraries, for brightseg's end-to-end tests.

Each subcommand reads .npy inputs and writes .npy outputs, so the Rust tests can compare our
results with onnxruntime, scikit-image and SciPy on the same data.

  onnx MODEL.onnx INPUT.npy OUT.npy            raw ONNX output (onnxruntime, CPU, 1 thread)
  label MASK.npy OUT.npy                        skimage.measure.label, 8-connected
  edt MASK.npy OUT.npy                          scipy.ndimage.distance_transform_edt
  watershed IMAGE.npy MARKERS.npy MASK.npy OUT.npy   skimage.segmentation.watershed
  regionprops LABELS.npy OUT.npy                area, centroid (row, col), bbox per label
  thresholds IMAGE.npy OUT.npy                  skimage threshold_otsu, threshold_li, threshold_triangle
  gaussian IMAGE.npy SIGMA OUT.npy              scipy.ndimage.gaussian_filter (reflect, truncate 4)
  median IMAGE.npy SIZE OUT.npy                 scipy.ndimage.median_filter (SIZE × SIZE, reflect)
  hyperstack TCYX.npy PIXEL_UM OUT.tif          an ImageJ hyperstack (16-bit) written by tifffile
  samples SYX.npy DTYPE PHOTOMETRIC PLANAR OUT.tif   one page of S samples per pixel, as
                                                tifffile writes it (PLANAR contig or separate)
  plain YX.npy OUT.tif                          a 16-bit plane with no metadata, as instruments
                                                (Harmony, MetaXpress) write one field and channel
  ome-series YX.npy N OUT.ome.tif               N series (fields) of the plane in one OME-TIFF,
                                                as tifffile writes several images
  ome-plate OUT.ome.tif PIXEL_UM CYX.npy…       a plate in one OME-TIFF (OME-XML with Plate, Well,
                                                WellSample and TiffData written here): the fields
                                                in wells B02, B02, C04, C04, two channels each
  ome-zarr-plate OUT.zarr PIXEL_UM CYX.npy…    an OME-Zarr HCS plate (NGFF 0.4) written by
                                                ome-zarr-py: wells B2, B2, C4, C4 as ome-plate;
                                                with one field, an OME-Zarr image
  ome-zarr-labels STORE GROUP OUT.npy          the first label image of image GROUP of an
                                                OME-Zarr store, as ome-zarr-py's reader finds it
  described YX.npy DESCRIPTION.txt OUT.tif    a plane whose ImageDescription is the text given
  mi MASK.npy IMAGE.npy BINS OUT.npy            mutual information (nats) of a mask and binned
                                                intensities, as H(mask) + H(bins) - H(joint)
  nifti IMAGE.nii.gz MASK.nii.gz PIXEL_UM OUT.tif LABELS.tif
                                                a BriFiSeg field (NIfTI, read by nibabel) as a
                                                calibrated 32-bit TIFF, and its binary mask's
                                                4-connected components as a label TIFF, the way
                                                scripts/generalist/prepare.py converts them
"""
import sys

import numpy as np


def main(argv):
    cmd, *args = argv
    if cmd == "onnx":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(args[0], opts, providers=["CPUExecutionProvider"])
        x = np.load(args[1]).astype(np.float32)
        out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.save(args[2], out.astype(np.float32))
    elif cmd == "label":
        from skimage.measure import label

        np.save(args[1], label(np.load(args[0]) > 0, connectivity=2).astype(np.uint32))
    elif cmd == "edt":
        from scipy.ndimage import distance_transform_edt

        np.save(args[1], distance_transform_edt(np.load(args[0]) > 0).astype(np.float32))
    elif cmd == "watershed":
        from skimage.segmentation import watershed

        image, markers, mask = (np.load(a) for a in args[:3])
        out = watershed(image, markers.astype(np.int32), mask=mask > 0)
        np.save(args[3], out.astype(np.uint32))
    elif cmd == "regionprops":
        from skimage.measure import regionprops

        rows = [
            [r.label, r.area, r.centroid[0], r.centroid[1], *r.bbox]
            for r in regionprops(np.load(args[0]).astype(np.int32))
        ]
        np.save(args[1], np.array(rows, dtype=np.float64).reshape(-1, 8))
    elif cmd == "thresholds":
        from skimage.filters import threshold_li, threshold_otsu, threshold_triangle

        image = np.load(args[0]).astype(np.float32)
        out = [threshold_otsu(image), threshold_li(image), threshold_triangle(image)]
        np.save(args[1], np.array(out, dtype=np.float64))
    elif cmd == "gaussian":
        from scipy.ndimage import gaussian_filter

        image = np.load(args[0]).astype(np.float64)
        out = gaussian_filter(image, float(args[1]), mode="reflect", truncate=4.0)
        np.save(args[2], out.astype(np.float32))
    elif cmd == "median":
        from scipy.ndimage import median_filter

        image = np.load(args[0]).astype(np.float32)
        out = median_filter(image, size=int(args[1]), mode="reflect")
        np.save(args[2], out.astype(np.float32))
    elif cmd == "hyperstack":
        import tifffile

        stack = np.load(args[0]).astype(np.uint16)
        px = float(args[1])
        tifffile.imwrite(args[2], stack, imagej=True, resolution=(1 / px, 1 / px),
                         metadata={"axes": "TCYX", "unit": "micron"})
    elif cmd == "samples":
        import tifffile

        stack = np.load(args[0]).astype(args[1])
        photometric, planar = args[2], args[3]
        data = stack if planar == "separate" else np.moveaxis(stack, 0, -1)
        tifffile.imwrite(args[4], data, photometric=photometric, planarconfig=planar)
    elif cmd == "plain":
        import tifffile

        tifffile.imwrite(args[1], np.load(args[0]).astype(np.uint16))
    elif cmd == "ome-series":
        import tifffile

        plane = np.load(args[0]).astype(np.uint16)
        with tifffile.TiffWriter(args[2], ome=True) as tif:
            for k in range(int(args[1])):
                tif.write(plane, metadata={"Name": f"B02 field {k + 1}", "axes": "YX"})
    elif cmd == "ome-plate":
        # A plate as one OME-TIFF, its OME-XML written here (not by brightseg): fields of two
        # channels each (brightfield, Hoechst), two fields per well, wells B02 then C04, planes
        # placed by TiffData IFD, Plate/Well/WellSample linking each field to its well, on a
        # 384-well plate.
        import tifffile

        out, pixel_um, fields = args[0], float(args[1]), [np.load(a) for a in args[2:]]
        wells = [(1, 1), (2, 3)]
        images, samples = [], {w: [] for w in wells}
        for k, f in enumerate(fields):
            well = wells[k // 2]
            samples[well].append(k)
            c, h, w = f.shape
            images.append(
                f'<Image ID="Image:{k}" Name="Well {"BC"[k // 2]}0{well[1] + 1}, Field #{k % 2 + 1}">'
                f'<Pixels ID="Pixels:{k}" DimensionOrder="XYCZT" Type="uint16" SizeX="{w}" '
                f'SizeY="{h}" SizeC="{c}" SizeZ="1" SizeT="1" PhysicalSizeX="{pixel_um}" '
                f'PhysicalSizeXUnit="&#181;m" PhysicalSizeY="{pixel_um}" PhysicalSizeYUnit="&#181;m">'
                f'<Channel ID="Channel:{k}:0" Name="Brightfield" SamplesPerPixel="1"/>'
                f'<Channel ID="Channel:{k}:1" Name="Hoechst" SamplesPerPixel="1"/>'
                f'<TiffData IFD="{2 * k}" PlaneCount="{c}"/></Pixels></Image>'
            )
        plate = '<Plate ID="Plate:0" Name="Screen-1" Rows="16" Columns="24">'
        for n, (well, ks) in enumerate(samples.items()):
            plate += f'<Well ID="Well:0:{n}" Row="{well[0]}" Column="{well[1]}">'
            for k in ks:
                plate += (
                    f'<WellSample ID="WellSample:0:{n}:{k}" Index="{k}">'
                    f'<ImageRef ID="Image:{k}"/></WellSample>'
                )
            plate += "</Well>"
        plate += "</Plate>"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">'
            + plate
            + "".join(images)
            + "</OME>"
        )
        with tifffile.TiffWriter(out) as tif:
            first = True
            for f in fields:
                for plane in f.astype(np.uint16):
                    tif.write(plane, description=xml if first else None, metadata=None)
                    first = False
    elif cmd == "ome-zarr-plate":
        # An OME-Zarr (NGFF 0.4) HCS plate written by ome-zarr-py: fields of two channels
        # (brightfield, Hoechst) at PIXEL_UM µm, two per well, wells B2 then C4 of a 16 × 24
        # plate, chunks of 1 × 128 × 128; or with one field, that image as a store of its own.
        import zarr
        from ome_zarr.io import parse_url
        from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

        out, pixel_um, fields = args[0], float(args[1]), [np.load(a) for a in args[2:]]
        axes = [
            {"name": "c", "type": "channel"},
            {"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"},
        ]
        omero = {"channels": [{"label": "Brightfield"}, {"label": "Hoechst"}]}

        def image(group, data):
            write_image(
                image=data.astype(np.uint16),
                group=group,
                axes=axes,
                scaler=None,
                coordinate_transformations=[[{"type": "scale", "scale": [1, pixel_um, pixel_um]}]],
                storage_options={"chunks": (1, 128, 128)},
            )
            group.attrs["omero"] = omero

        root = zarr.group(store=parse_url(out, mode="w").store)
        if len(fields) == 1:
            image(root, fields[0])
        else:
            wells = ["B/2", "C/4"]
            write_plate_metadata(
                root, list("ABCDEFGHIJKLMNOP"), [str(c) for c in range(1, 25)], wells, name="Screen-Z"
            )
            for w, path in enumerate(wells):
                well = root.require_group(path)
                write_well_metadata(well, [{"path": "0"}, {"path": "1"}])
                for f in range(2):
                    image(well.require_group(str(f)), fields[2 * w + f])
    elif cmd == "ome-zarr-labels":
        # The label image of image GROUP ("" for the store's root) found as ome-zarr-py finds
        # it: listed by the image's labels group, recognised as a label image (image-label),
        # read at its first level.
        import os

        import zarr
        from ome_zarr.io import parse_url
        from ome_zarr.reader import Label, Reader

        store, group, out = args
        image = os.path.join(store, group)
        listed = zarr.open_group(os.path.join(image, "labels"), mode="r").attrs["labels"]
        location = parse_url(os.path.join(image, "labels", listed[0]))
        if not Label.matches(location):
            sys.exit(f"{listed[0]} is not an NGFF label image")
        # The reader also yields the image the labels point back to.
        node = next(n for n in Reader(location)() if any(isinstance(s, Label) for s in n.specs))
        np.save(out, np.asarray(node.data[0]).astype(np.uint32))
    elif cmd == "described":
        # A 16-bit plane with the given ImageDescription (e.g. OME-XML), nothing else.
        import tifffile

        with open(args[1]) as f:
            description = f.read()
        tifffile.imwrite(
            args[2], np.load(args[0]).astype(np.uint16), description=description, metadata=None
        )
    elif cmd == "mi":
        mask = np.load(args[0]).ravel() > 0
        image = np.load(args[1]).astype(np.float64).ravel()
        bins = int(args[2])
        joint, _, _ = np.histogram2d(mask.astype(np.float64), image, bins=[2, bins],
                                     range=[[0, 1], [image.min(), image.max()]])
        p = joint / joint.sum()

        def entropy(q):
            q = q[q > 0]
            return float(-(q * np.log(q)).sum())

        mi = entropy(p.sum(axis=1)) + entropy(p.sum(axis=0)) - entropy(p.ravel())
        np.save(args[3], np.array([mi], dtype=np.float64))
    elif cmd == "nifti":
        import nibabel
        import tifffile
        from scipy import ndimage

        px = float(args[2])
        bf = np.asarray(nibabel.load(args[0]).dataobj)[..., 0].T.astype(np.float32)
        mask = np.asarray(nibabel.load(args[1]).dataobj)[..., 0].T > 0.5
        labels, _ = ndimage.label(mask)
        for path, plane in ((args[3], bf), (args[4], labels.astype(np.uint16))):
            tifffile.imwrite(path, plane, imagej=True, resolution=(1 / px, 1 / px),
                             metadata={"unit": "micron"})
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
