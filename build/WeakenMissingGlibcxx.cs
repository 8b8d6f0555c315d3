// MSBuild inline task (compiled by RoslynCodeTaskFactory): see DetSharp.targets beside it for why it exists.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class DetSharpWeakenMissingGlibcxx : Task
{
    [Required]
    public ITaskItem[] Libraries { get; set; }

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib64/libstdc++.so.6",
    };

    public override bool Execute()
    {
        string system = null;
        foreach (var candidate in LibStdCxxCandidates)
        {
            if (File.Exists(candidate)) { system = candidate; break; }
        }
        if (system == null)
        {
            Log.LogMessage(MessageImportance.Low, "DetSharp: no system libstdc++.so.6 found; libLibTorchSharp.so left as shipped.");
            return true;
        }
        // Version names are stored as plain NUL-terminated strings in .dynstr; a byte search is enough.
        byte[] systemBytes = File.ReadAllBytes(system);
        foreach (var item in Libraries)
        {
            try
            {
                Patch(item.ItemSpec, systemBytes);
            }
            catch (Exception e)
            {
                Log.LogError("DetSharp: could not adjust {0} for this system's libstdc++: {1}", item.ItemSpec, e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }

    void Patch(string path, byte[] systemLib)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("expected a 64-bit little-endian ELF file");

        ulong shoff = BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        var patched = new List<string>();

        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)shoff + i * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            int offset = checked((int)BitConverter.ToUInt64(elf, sh + 0x18));
            int link = (int)BitConverter.ToUInt32(elf, sh + 0x28);
            int count = (int)BitConverter.ToUInt32(elf, sh + 0x2C);
            int strtab = checked((int)BitConverter.ToUInt64(elf, (int)shoff + link * shentsize + 0x18));

            int vn = offset;
            for (int n = 0; n < count; n++)
            {
                string file = ReadString(elf, strtab + (int)BitConverter.ToUInt32(elf, vn + 4));
                int auxCount = BitConverter.ToUInt16(elf, vn + 2);
                int aux = vn + (int)BitConverter.ToUInt32(elf, vn + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    string version = ReadString(elf, strtab + (int)BitConverter.ToUInt32(elf, aux + 8));
                    ushort flags = BitConverter.ToUInt16(elf, aux + 4);
                    if (file.StartsWith("libstdc++", StringComparison.Ordinal)
                        && version.StartsWith("GLIBCXX_", StringComparison.Ordinal)
                        && (flags & VerFlgWeak) == 0
                        && !ContainsVersion(systemLib, version))
                    {
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, aux + 4);
                        patched.Add(version);
                    }
                    uint next = BitConverter.ToUInt32(elf, aux + 12);
                    if (next == 0) break;
                    aux += (int)next;
                }
                uint nextVn = BitConverter.ToUInt32(elf, vn + 12);
                if (nextVn == 0) break;
                vn += (int)nextVn;
            }
        }

        if (patched.Count == 0) return;
        // Write beside, then copy over: a failed write never leaves a truncated library behind.
        string temp = path + ".detsharp-tmp";
        File.WriteAllBytes(temp, elf);
        File.Copy(temp, path, true);
        File.Delete(temp);
        Log.LogMessage(MessageImportance.High, "DetSharp: marked {0} weak in {1} (this system's libstdc++ lacks it).",
            string.Join(", ", patched), path);
    }

    static string ReadString(byte[] data, int start)
    {
        int end = start;
        while (end < data.Length && data[end] != 0) end++;
        return Encoding.ASCII.GetString(data, start, end - start);
    }

    static bool ContainsVersion(byte[] haystack, string version)
    {
        // Match "VERSION\0" so GLIBCXX_3.4.3 does not match GLIBCXX_3.4.32.
        byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            if (haystack[i] != needle[0]) continue;
            int j = 1;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }
}
