using System.Collections;
using System.Globalization;
using System.Text;

namespace DetSharp.Logging;

/// <summary>
/// Python's spellings of values as MMDetection's logs show them: <c>repr(float)</c>, <c>round(x, n)</c>,
/// <c>json.dumps</c> (default separators, ASCII-escaped) and <c>str(datetime.timedelta)</c>.
/// </summary>
public static class PyFormat
{
    /// <summary>
    /// <c>repr(x)</c> for a Python float (<see cref="Config.PyText.Float"/>), with non-finite values spelled as
    /// <c>json.dumps</c> writes them.
    /// </summary>
    public static string Float(double x)
    {
        if (double.IsNaN(x)) return "NaN";
        if (double.IsPositiveInfinity(x)) return "Infinity";
        if (double.IsNegativeInfinity(x)) return "-Infinity";
        return Config.PyText.Float(x);
    }

    /// <summary>Python's <c>f'{x:.Ne}'</c>: <c>1.978e-03</c>.</summary>
    public static string Sci(double x, int decimals) =>
        double.IsFinite(x) ? x.ToString("0." + new string('0', decimals) + "e+00", CultureInfo.InvariantCulture) : Fixed(x, decimals);

    /// <summary>Python's <c>f'{x:.Nf}'</c> (nan/inf spelled as Python does).</summary>
    public static string Fixed(double x, int decimals) =>
        double.IsNaN(x) ? "nan" : double.IsInfinity(x) ? (x > 0 ? "inf" : "-inf") : Evaluation.NumpyMath.FormatFixed(x, decimals);

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
                    if (c < 0x20 || c > 0x7f) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
