namespace DetSharp.Config;

/// <summary>"Did you mean" suggestions by edit distance, for unknown keys and type names.</summary>
public static class Suggest
{
    /// <summary>The candidates closest to <paramref name="word"/> (case-insensitive edit distance), best first.</summary>
    public static IReadOnlyList<string> Closest(string word, IEnumerable<string> candidates, int max)
    {
        var scored = new List<(int Distance, string Name)>();
        foreach (var candidate in candidates)
        {
            int distance = Distance(word.ToLowerInvariant(), candidate.ToLowerInvariant());
            // Only suggest names that share at least half their letters with the word.
            if (distance <= Math.Max(2, Math.Max(word.Length, candidate.Length) / 2))
                scored.Add((distance, candidate));
        }
        scored.Sort((a, b) => a.Distance != b.Distance ? a.Distance.CompareTo(b.Distance) : string.CompareOrdinal(a.Name, b.Name));
        var result = new List<string>(Math.Min(max, scored.Count));
        for (int i = 0; i < scored.Count && i < max; i++)
            result.Add(scored[i].Name);
        return result;
    }

    public static string? Closest(string word, IEnumerable<string> candidates)
    {
        var best = Closest(word, candidates, 1);
        return best.Count == 0 ? null : best[0];
    }

    /// <summary>Levenshtein distance with a single rolling row.</summary>
    public static int Distance(string a, string b)
    {
        Span<int> row = b.Length + 1 <= 256 ? stackalloc int[b.Length + 1] : new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) row[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + cost);
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
