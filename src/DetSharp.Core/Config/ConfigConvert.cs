using System.Collections;
using System.Globalization;

namespace DetSharp.Config;

/// <summary>Converts raw config values to the .NET types that code asks for, with messages naming the key.</summary>
public static class ConfigConvert
{
    public static T To<T>(object? value, string path, string? file = null) => (T)To(value, typeof(T), path, file)!;

    public static object? To(object? value, Type target, string path, string? file = null)
    {
        var underlying = Nullable.GetUnderlyingType(target);
        if (value is null)
        {
            if (!target.IsValueType || underlying is not null) return null;
            throw Mismatch(value, target, path, file);
        }
        target = underlying ?? target;
        if (target == typeof(object) || target.IsInstanceOfType(value)) return value;

        switch (value)
        {
            case long l when target == typeof(int):
                if (l is < int.MinValue or > int.MaxValue) throw Mismatch(value, target, path, file);
                return (int)l;
            case long l when target == typeof(double): return (double)l;
            case long l when target == typeof(float): return (float)l;
            case double d when target == typeof(float): return (float)d;
            case string s when target.IsEnum:
                return ParseEnum(s, target, path, file);
        }

        if (value is List<object?> items)
        {
            Type? element = target.IsArray ? target.GetElementType()
                : target.IsGenericType && IsListLike(target.GetGenericTypeDefinition()) ? target.GetGenericArguments()[0]
                : null;
            if (element is not null)
            {
                var array = Array.CreateInstance(element, items.Count);
                for (int i = 0; i < items.Count; i++)
                    array.SetValue(To(items[i], element, $"{path}.{i}", file), i);
                if (target.IsArray || target.IsAssignableFrom(array.GetType())) return array;
                var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
                foreach (var item in array) list.Add(item);
                return list;
            }
        }
        throw Mismatch(value, target, path, file);
    }

    private static bool IsListLike(Type generic) =>
        generic == typeof(IReadOnlyList<>) || generic == typeof(IList<>) || generic == typeof(List<>)
        || generic == typeof(IEnumerable<>) || generic == typeof(IReadOnlyCollection<>);

    private static object ParseEnum(string text, Type target, string path, string? file)
    {
        // Config spelling is snake_case or lower case ('pytorch', 'on_input'); enum members are PascalCase.
        string pascal = string.Concat(text.Split('_', '-').Select(p => p.Length == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..]));
        if (Enum.TryParse(target, pascal, ignoreCase: true, out var result)) return result!;
        var names = Enum.GetNames(target).Select(ToSnakeCase);
        throw new DetSharpException(
            $"config key '{path}'{(file is null ? "" : $" in {file}")}: '{text}' is not a valid value; expected one of: {string.Join(", ", names)}.");
    }

    /// <summary>PascalCase or camelCase to snake_case: <c>NumClasses</c> → <c>num_classes</c>.</summary>
    public static string ToSnakeCase(string name)
    {
        var builder = new System.Text.StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1])
                              || (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1]))))
                    builder.Append('_');
                builder.Append(char.ToLowerInvariant(c));
            }
            else builder.Append(c);
        }
        return builder.ToString();
    }

    private static DetSharpException Mismatch(object? value, Type target, string path, string? file) =>
        new($"config key '{path}'{(file is null ? "" : $" in {file}")} is {ConfigValue.Describe(value)}, but {FriendlyName(target)} is expected.");

    private static string FriendlyName(Type type)
    {
        if (type == typeof(int) || type == typeof(long)) return "an int";
        if (type == typeof(double) || type == typeof(float)) return "a number";
        if (type == typeof(string)) return "a string";
        if (type == typeof(bool)) return "True or False";
        if (type == typeof(ConfigDict)) return "a dict";
        if (type.IsArray || type.IsGenericType) return "a list or tuple";
        return type.Name;
    }

    internal static string Invariant(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}
