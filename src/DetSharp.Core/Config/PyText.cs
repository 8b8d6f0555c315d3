using System.Globalization;
using System.Text;

namespace DetSharp.Config;

/// <summary>Python's <c>repr</c> of config scalars, so dumped configs read like mmcv's.</summary>
public static class PyText
{
    /// <summary>Python's float repr: shortest round-trip digits, <c>1.0</c>, <c>1e-05</c>, <c>inf</c>.</summary>
    public static string Float(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        string r = value.ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOfAny(['E', 'e']);
        string mantissa = e < 0 ? r : r[..e];
        int exponent = e < 0 ? 0 : int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture);
        // Python switches to scientific notation for exponents < -4 or >= 16, C# at other points:
        // rebuild from the shortest digits so both agree.
        string digits = mantissa.Replace("-", "").Replace(".", "");
        int pointPos = (mantissa.Replace("-", "").IndexOf('.') is var p and >= 0 ? p : mantissa.Replace("-", "").Length) + exponent;
        string trimmed = digits.TrimStart('0');
        int leadingZeros = digits.Length - trimmed.Length;
        digits = trimmed.TrimEnd('0');
        if (digits.Length == 0) return value < 0 || (value == 0 && double.IsNegative(value)) ? "-0.0" : "0.0";
        int decimalExponent = pointPos - leadingZeros - 1; // exponent of the first significant digit
        string sign = value < 0 ? "-" : "";
        if (decimalExponent < -4 || decimalExponent >= 16)
        {
            string m = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
            return $"{sign}{m}e{(decimalExponent < 0 ? "-" : "+")}{Math.Abs(decimalExponent):00}";
        }
        if (decimalExponent < 0)
            return $"{sign}0.{new string('0', -decimalExponent - 1)}{digits}";
        int intDigits = decimalExponent + 1;
        if (digits.Length <= intDigits)
            return $"{sign}{digits}{new string('0', intDigits - digits.Length)}.0";
        return $"{sign}{digits[..intDigits]}.{digits[intDigits..]}";
    }

    /// <summary>Python's str repr with single quotes (double quotes when the text holds a single quote only).</summary>
    public static string String(string value)
    {
        char quote = value.Contains('\'') && !value.Contains('"') ? '"' : '\'';
        var builder = new StringBuilder(value.Length + 2);
        builder.Append(quote);
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    if (c == quote) builder.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) builder.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                    else builder.Append(c);
                    break;
            }
        }
        builder.Append(quote);
        return builder.ToString();
    }

    public static bool IsIdentifier(string key)
    {
        if (key.Length == 0 || !(char.IsLetter(key[0]) || key[0] == '_')) return false;
        foreach (char c in key)
            if (!(char.IsLetterOrDigit(c) || c == '_')) return false;
        return !PyConfigParser.Keywords.Contains(key);
    }
}
