using System.Text;
using System.Text.Json;

namespace DetSharp.Config;

/// <summary>
/// Writes a config tree back as Python text in mmcv's style (<c>key = dict(...)</c>, tuples as tuples, strings
/// single-quoted) that <see cref="PyConfigParser"/> reads back to an identical tree, or as JSON.
/// </summary>
public static class ConfigDumper
{
    private const int LineWidth = 79;
    private const string Indent = "    ";

    public static string ToPython(ConfigDict config)
    {
        var builder = new StringBuilder();
        foreach (var (key, value) in config)
        {
            if (!PyText.IsIdentifier(key))
                throw new DetSharpException($"cannot dump top-level key '{key}' as Python: it is not an identifier.");
            builder.Append(key).Append(" = ");
            Write(builder, value, key.Length + 3, 0);
            builder.Append('\n');
        }
        return builder.ToString();
    }

    /// <summary>A one-line Python rendering of a value (for messages).</summary>
    public static string FormatInline(object? value)
    {
        var builder = new StringBuilder();
        WriteInline(builder, value);
        return builder.ToString();
    }

    private static void Write(StringBuilder builder, object? value, int column, int depth)
    {
        string inline = FormatInline(value);
        if (column + inline.Length <= LineWidth || value is not (ConfigDict or List<object?>) || IsEmpty(value))
        {
            builder.Append(inline);
            return;
        }
        string pad = string.Concat(Enumerable.Repeat(Indent, depth + 1));
        switch (value)
        {
            case ConfigDict dict:
                bool identifiers = dict.Keys.All(PyText.IsIdentifier);
                builder.Append(identifiers ? "dict(" : "{");
                int i = 0;
                foreach (var (key, item) in dict)
                {
                    builder.Append('\n').Append(pad);
                    string prefix = identifiers ? key + "=" : PyText.String(key) + ": ";
                    builder.Append(prefix);
                    Write(builder, item, pad.Length + prefix.Length, depth + 1);
                    if (++i < dict.Count) builder.Append(',');
                }
                builder.Append(identifiers ? ")" : "}");
                break;
            case List<object?> list:
                bool tuple = list is ConfigTuple;
                builder.Append(tuple ? '(' : '[');
                for (int j = 0; j < list.Count; j++)
                {
                    builder.Append('\n').Append(pad);
                    Write(builder, list[j], pad.Length, depth + 1);
                    if (j + 1 < list.Count || (tuple && list.Count == 1)) builder.Append(',');
                }
                builder.Append(tuple ? ')' : ']');
                break;
        }
    }

    private static bool IsEmpty(object? value) => value switch
    {
        ConfigDict d => d.Count == 0,
        List<object?> l => l.Count == 0,
        _ => false,
    };

    private static void WriteInline(StringBuilder builder, object? value)
    {
        switch (value)
        {
            case null: builder.Append("None"); break;
            case bool b: builder.Append(b ? "True" : "False"); break;
            case long l: builder.Append(l.ToString(System.Globalization.CultureInfo.InvariantCulture)); break;
            case double d: builder.Append(PyText.Float(d)); break;
            case string s: builder.Append(PyText.String(s)); break;
            case ConfigDict dict:
                bool identifiers = dict.Keys.All(PyText.IsIdentifier);
                builder.Append(identifiers ? "dict(" : "{");
                int i = 0;
                foreach (var (key, item) in dict)
                {
                    if (i++ > 0) builder.Append(", ");
                    builder.Append(identifiers ? key + "=" : PyText.String(key) + ": ");
                    WriteInline(builder, item);
                }
                builder.Append(identifiers ? ")" : "}");
                break;
            case ConfigTuple tuple:
                builder.Append('(');
                for (int j = 0; j < tuple.Count; j++)
                {
                    if (j > 0) builder.Append(", ");
                    WriteInline(builder, tuple[j]);
                }
                if (tuple.Count == 1) builder.Append(',');
                builder.Append(')');
                break;
            case List<object?> list:
                builder.Append('[');
                for (int j = 0; j < list.Count; j++)
                {
                    if (j > 0) builder.Append(", ");
                    WriteInline(builder, list[j]);
                }
                builder.Append(']');
                break;
            default:
                throw new InvalidOperationException($"not a config value: {value.GetType().Name}");
        }
    }

    public static string ToJson(ConfigDict config)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            WriteJson(writer, config);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteJson(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNullValue(); break;
            case bool b: writer.WriteBooleanValue(b); break;
            case long l: writer.WriteNumberValue(l); break;
            case double d:
                if (double.IsFinite(d)) writer.WriteRawValue(PyText.Float(d).Replace("e+", "e"), skipInputValidation: true);
                else writer.WriteStringValue(PyText.Float(d));
                break;
            case string s: writer.WriteStringValue(s); break;
            case ConfigDict dict:
                writer.WriteStartObject();
                foreach (var (key, item) in dict)
                {
                    writer.WritePropertyName(key);
                    WriteJson(writer, item);
                }
                writer.WriteEndObject();
                break;
            case List<object?> list:
                writer.WriteStartArray();
                foreach (var item in list) WriteJson(writer, item);
                writer.WriteEndArray();
                break;
        }
    }
}
