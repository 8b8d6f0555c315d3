using OpenCvSharp;

namespace DetSharp.Visualization;

/// <summary>
/// Writes a drawn picture (<c>test --show-dir</c>, <c>infer</c>, <c>browse-dataset</c>): through a temporary sibling and a
/// rename, so a reader never sees half a picture; a write OpenCV refuses or fails is an error naming the file, not a
/// silent <c>false</c>.
/// </summary>
public static class PictureFile
{
    public static void Write(string path, Mat image)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string ext = Path.GetExtension(path);
        // The temporary file keeps the extension: OpenCV picks the encoder from it.
        string temp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(path)}.{Guid.NewGuid():N}.tmp{ext}");
        try
        {
            bool written;
            try { written = Cv2.ImWrite(temp, image); }
            catch (OpenCVException e) { throw new DetSharpException($"{path}: OpenCV cannot write this picture ({e.Message.Trim()}); use a .jpg or .png name.", e); }
            if (!written) throw new DetSharpException($"{path}: OpenCV could not write the picture (is the folder writable, the disk full, the extension an image format?).");
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DetSharpException($"{path}: cannot write the picture: {e.Message}", e);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
