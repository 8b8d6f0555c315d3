using System.Text;

namespace DetSharp.Config;

/// <summary>
/// One piece of an f-string literal: literal text, or an embedded expression (its source text, the column where it
/// starts, and the conversion <c>!r</c>/<c>!s</c> if any). The parser evaluates the expressions in the config's scope.
/// </summary>
internal sealed record FStringPart(string? Literal, string? Expression, int Column, char Conversion)
{
    /// <summary>Splits the decoded body of an f-string at its replacement fields (<c>{{</c> and <c>}}</c> are braces).</summary>
    public static IReadOnlyList<FStringPart> Split(string body, int bodyColumn, Func<string, Exception> error)
    {
        var parts = new List<FStringPart>();
        var literal = new StringBuilder();
        int i = 0;
        while (i < body.Length)
        {
            char c = body[i];
            if (c is '{' or '}' && i + 1 < body.Length && body[i + 1] == c)
            {
                literal.Append(c);
                i += 2;
                continue;
            }
            if (c == '}') throw error("f-string: single '}' is not allowed (write '}}' for a brace)");
            if (c != '{')
            {
                literal.Append(c);
                i++;
                continue;
            }
            if (literal.Length > 0) parts.Add(new FStringPart(literal.ToString(), null, 0, '\0'));
            literal.Clear();
            var (end, expressionEnd, conversion) = FieldEnd(body, i + 1, error);
            string expression = body[(i + 1)..expressionEnd];
            if (expression.Trim().Length == 0) throw error("f-string: empty expression '{}' is not allowed");
            parts.Add(new FStringPart(null, expression, bodyColumn + i + 1, conversion));
            i = end + 1;
        }
        if (literal.Length > 0) parts.Add(new FStringPart(literal.ToString(), null, 0, '\0'));
        return parts;
    }

    /// <summary>The index of the field's closing brace, where its expression ends, and its conversion.</summary>
    private static (int End, int ExpressionEnd, char Conversion) FieldEnd(string body, int start, Func<string, Exception> error)
    {
        int depth = 0;
        char quote = '\0';
        for (int j = start; j < body.Length; j++)
        {
            char c = body[j];
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                continue;
            }
            switch (c)
            {
                case '\'' or '"': quote = c; break;
                case '(' or '[' or '{': depth++; break;
                case ')' or ']': depth--; break;
                case '}' when depth > 0: depth--; break;
                case '}': return (j, j, '\0');
                case '!' when depth == 0 && j + 1 < body.Length && body[j + 1] != '=':
                    if (j + 2 < body.Length && body[j + 1] is 'r' or 's' && body[j + 2] == '}') return (j + 2, j, body[j + 1]);
                    throw error("f-string: only the conversions !r and !s are supported in configs");
                case ':' when depth == 0:
                    throw error("f-string: format specifications ('{value:...}') are not supported in configs; build the text with '+' or str conversions");
            }
        }
        throw error("f-string: expecting '}'");
    }
}
