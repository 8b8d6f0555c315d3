using System.Collections;
using System.Globalization;
using System.Text;

namespace DetSharp.Engine;

/// <summary>
/// Python's spellings of values as MMDetection's logs show them: <c>repr(float)</c>, <c>round(x, n)</c>,
/// <c>json.dumps</c> (default separators, ASCII-escaped) and <c>str(datetime.timedelta)</c>.
/// </summary>
public static class PyFormat
{
    /// <summary><c>repr(x)</c> for a Python float: shortest round-trip digits, exponent form below 1e-4 and from 1e16.</summary>
    public static string Float(double x)
    {
        if (double.IsNaN(x)) return "NaN";
        if (double.IsPositiveInfinity(x)) return "Infinity";
        if (double.IsNegativeInfinity(x)) return "-Infinity";
        if (x == 0) return double.IsNegative(x) ? "-0.0" : "0.0";
        // "E16" gives the exact digits; "R" (shortest round trip) is what repr() uses.
        string r = x.ToString("R", CultureInfo.InvariantCulture);
        // Normalise to digits + exponent, then lay out as Python does.
        bool negative = r.StartsWith('-');
        if (negative) r = r[1..];
        int exponentAt = r.IndexOfAny(['E', 'e']);
        int exponent = 0;
        string mantissa = r;
        if (exponentAt >= 0)
        {
            exponent = int.Parse(r[(exponentAt + 1)..], CultureInfo.InvariantCulture);
            mantissa = r[..exponentAt];
        }
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa[..dot] + mantissa[(dot + 1)..];
        int pointPos = (dot < 0 ? mantissa.Length : dot) + exponent; // decimal point position relative to digits
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
        {
            lead++;
            pointPos--;
        }
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        int decimalExponent = pointPos - 1; // x = d.ddd × 10^decimalExponent
        string body;
        if (decimalExponent < -4 || decimalExponent >= 16)
        {
            string frac = digits.Length > 1 ? "." + digits[1..] : "";
            body = $"{digits[0]}{frac}e{(decimalExponent < 0 ? "-" : "+")}{Math.Abs(decimalExponent):00}";
        }
        else if (pointPos <= 0)
        {
            body = "0." + new string('0', -pointPos) + digits;
        }
        else if (pointPos >= digits.Length)
        {
            body = digits + new string('0', pointPos - digits.Length) + ".0";
        }
        else
        {
            body = digits[..pointPos] + "." + digits[pointPos..];
        }
        return negative ? "-" + body : body;
    }

    /// <summary>Python's <c>f'{x:.Ne}'</c>: <c>1.978e-03</c>.</summary>
    public static string Sci(double x, int decimals) =>
        double.IsFinite(x) ? x.ToString("0." + new string('0', decimals) + "e+00", CultureInfo.InvariantCulture) : Fixed(x, decimals);

    /// <summary>Python's <c>f'{x:.Nf}'</c> (nan/inf spelled as Python does).</summary>
    public static string Fixed(double x, int decimals) =>
        double.IsNaN(x) ? "nan" : double.IsInfinity(x) ? (x > 0 ? "inf" : "-inf") : x.ToString("F" + decimals, CultureInfo.InvariantCulture);

    /// <summary>Python's <c>round(x, ndigits)</c> (half to even).</summary>
    public static double Round(double x, int digits) =>
        double.IsFinite(x) ? Math.Round(x, digits, MidpointRounding.ToEven) : x;

    /// <summary><c>str(datetime.timedelta(seconds=s))</c>: <c>H:MM:SS</c>, with <c>N day(s), </c> in front past a day.</summary>
    public static string TimeDelta(long seconds)
    {
        long days = Math.DivRem(seconds, 86400, out long rest);
        string clock = $"{rest / 3600}:{rest / 60 % 60:00}:{rest % 60:00}";
        return days == 0 ? clock : $"{days} day{(Math.Abs(days) == 1 ? "" : "s")}, {clock}";
    }

    /// <summary><c>json.dumps(value)</c> with Python's defaults (", " and ": " separators, non-ASCII escaped).</summary>
    public static string Json(object? value)
    {
        var sb = new StringBuilder();
        WriteJson(sb, value);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case string s:
                WriteJsonString(sb, s);
                break;
            case double d:
                sb.Append(Float(d));
                break;
            case float f:
                sb.Append(Float(f));
                break;
            case int or long or short or byte or uint or ulong:
                sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
            case IEnumerable<KeyValuePair<string, object?>> pairs:
                WriteObject(sb, pairs);
                break;
            case IDictionary dict:
                WriteObject(sb, dict.Keys.Cast<object>().Select(k => new KeyValuePair<string, object?>(Convert.ToString(k, CultureInfo.InvariantCulture)!, dict[k])));
                break;
            case IEnumerable items:
                sb.Append('[');
                bool first = true;
                foreach (var item in items)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    WriteJson(sb, item);
                }
                sb.Append(']');
                break;
            default:
                WriteJsonString(sb, Convert.ToString(value, CultureInfo.InvariantCulture) ?? "");
                break;
        }
    }

    private static void WriteObject(StringBuilder sb, IEnumerable<KeyValuePair<string, object?>> pairs)
    {
        sb.Append('{');
        bool first = true;
        foreach (var (key, item) in pairs)
        {
            if (!first) sb.Append(", ");
            first = false;
            WriteJsonString(sb, key);
            sb.Append(": ");
            WriteJson(sb, item);
        }
        sb.Append('}');
    }

    private static void WriteJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7f) sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
