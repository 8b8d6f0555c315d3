using OpenCvSharp;

namespace DetSharp.Converters;

/// <summary>Image sizes as mmcv reads them (decoded by OpenCV in colour, EXIF orientation applied).</summary>
internal static class ImageSize
{
    public static (int Height, int Width)? TryRead(string path, out string? problem)
    {
        problem = null;
        if (!File.Exists(path))
        {
            problem = "image file not found";
            return null;
        }
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length == 0)
            {
                problem = "the image file is empty (0 bytes)";
                return null;
            }
            using var img = Cv2.ImDecode(bytes, ImreadModes.Color);
            if (img.Empty())
            {
                problem = "OpenCV cannot decode the image";
                return null;
            }
            return (img.Rows, img.Cols);
        }
        catch (Exception e) when (e is IOException or OpenCVException or UnauthorizedAccessException)
        {
            problem = $"cannot read the image: {e.Message}";
            return null;
        }
    }
}
