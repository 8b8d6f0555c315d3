using DetSharp.Registry;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// mmcv <c>LoadImageFromFile</c>: path = img_prefix joined with the record's file name; decoded by OpenCV
/// (<c>IMREAD_COLOR</c> for 'color': BGR uint8, EXIF orientation applied, as mmcv's cv2 backend).
/// </summary>
[Register(Registries.PipelinesName, "LoadImageFromFile")]
public sealed class LoadImageFromFile : IPipelineTransform
{
    private readonly bool _toFloat32;
    private readonly string _channelOrder;
    private readonly ImreadModes _mode;

    public LoadImageFromFile(bool toFloat32 = false, string colorType = "color", string channelOrder = "bgr", Config.ConfigDict? fileClientArgs = null)
    {
        IO.FileClientArgs.Check(fileClientArgs, "LoadImageFromFile");
        _toFloat32 = toFloat32;
        _channelOrder = channelOrder is "bgr" or "rgb"
            ? channelOrder
            : throw new DetSharpException($"LoadImageFromFile: channel_order '{channelOrder}' is not 'bgr' or 'rgb'.");
        _mode = colorType switch
        {
            "color" => ImreadModes.Color,
            "color_ignore_orientation" => ImreadModes.Color | ImreadModes.IgnoreOrientation,
            "grayscale" => ImreadModes.Grayscale,
            "unchanged" => ImreadModes.Unchanged,
            _ => throw new DetSharpException($"LoadImageFromFile: color_type '{colorType}' is not one of 'color', 'color_ignore_orientation', 'grayscale', 'unchanged'."),
        };
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        var info = sample.ImgInfo ?? throw new InvalidOperationException("LoadImageFromFile needs img_info.");
        string name = info.FileName ?? throw new DetSharpException($"image id {info.Id} has no file_name.");
        string path = sample.ImgPrefix is null ? name : PyPath.Join(sample.ImgPrefix, name);
        var img = Read(path, _mode, $"image id {info.Id} ('{name}', img_prefix '{sample.ImgPrefix}')");
        if (_channelOrder == "rgb" && img.Channels() == 3) Cv2.CvtColor(img, img, ColorConversionCodes.BGR2RGB);
        if (_toFloat32)
        {
            var f = new Mat();
            img.ConvertTo(f, MatType.CV_32FC(img.Channels()));
            img.Dispose();
            img = f;
        }
        sample.Filename = path;
        sample.OriFilename = name;
        sample.SetImg(img);
        sample.ImgShape = new ImageShape(img.Rows, img.Cols, img.Channels());
        sample.OriShape = sample.ImgShape;
        sample.ImgFields = ["img"];
        return sample;
    }

    /// <summary>Reads and decodes an image file, with errors naming the file and the record.</summary>
    public static Mat Read(string path, ImreadModes mode, string record)
    {
        if (!File.Exists(path))
            throw new DetSharpException($"{path}: image file not found for {record}. Check img_prefix/data_root and the file name.");
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new DetSharpException($"{path}: cannot read the image file for {record}: {e.Message}", e); }
        if (bytes.Length == 0)
            throw new DetSharpException($"{path}: the image file is empty (0 bytes) for {record}. Replace or remove the file.");
        Mat img;
        try { img = Cv2.ImDecode(bytes, mode); }
        catch (OpenCVException e) { throw new DetSharpException($"{path}: OpenCV cannot decode the image for {record}: {e.Message}", e); }
        if (img.Empty())
        {
            img.Dispose();
            throw new DetSharpException($"{path}: not a readable image (OpenCV could not decode its {bytes.Length} bytes) for {record}. Replace or remove the file.");
        }
        return img;
    }
}
