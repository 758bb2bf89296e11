package search

import (
	"reflect"
	"testing"
)

func TestTokenize(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ,.;!  ", nil},
		{"Gaming Laptop", []string{"gaming", "laptop"}},
		{"Laptop 15.6\" i7-1260P 16GB", []string{"laptop", "15", "6", "i7", "1260p", "16gb"}},
		{"snake_case_name __init__", []string{"snake_case_name", "__init__"}},
		{"repeat Repeat REPEAT", []string{"repeat", "repeat", "repeat"}},
		// Apostrophes (ASCII and typographic) split words, as in Python.
		{"Men's O’Brien", []string{"men", "s", "o", "brien"}},
		// Precomposed accents are letters: one token, case folded.
		{"Crème", []string{"crème"}},
		{"CRÈME", []string{"crème"}},
		{"ÉCOLE Straße", []string{"école", "straße"}},
		// Combining marks are not \w: a decomposed accent splits the word.
		{"Cre\u0300me", []string{"cre", "me"}},
		{"CAFE\u0301", []string{"cafe"}},
		// CJK ideographs and kana are letters (Lo): a run is one token.
		{"東京タワー 模型", []string{"東京タワー", "模型"}},
		{"日本語のテキスト", []string{"日本語のテキスト"}},
		// Other numbers: superscripts (No), Roman numerals (Nl), Arabic-Indic digits (Nd).
		{"x² Ⅻ ١٢٣", []string{"x²", "ⅻ", "١٢٣"}},
		// Symbols, emoji and punctuation separate tokens.
		{"rock&roll 💻laptop ©2024", []string{"rock", "roll", "laptop", "2024"}},
		// Python's str.lower: final sigma and dotted capital I.
		{"ΟΔΟΣ ΣΟΦΙΑ", []string{"οδος", "σοφια"}},
		{"İstanbul", []string{"i", "stanbul"}},
		{"tab\tnew\nline", []string{"tab", "new", "line"}},
	}
	for _, c := range cases {
		if got := Tokenize(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTokensSortedUniqueOverBothFields(t *testing.T) {
	d := &Doc{Live: true, Name: "Red red Shirt", Description: "A shirt, RED and blue"}
	want := []string{"a", "and", "blue", "red", "shirt"}
	if got := Tokens(d); !reflect.DeepEqual(got, want) {
		t.Fatalf("Tokens = %q, want %q", got, want)
	}
	// Fields are tokenized separately: name and description never merge.
	d = &Doc{Live: true, Name: "ab", Description: "cd"}
	if got := Tokens(d); !reflect.DeepEqual(got, []string{"ab", "cd"}) {
		t.Fatalf("Tokens = %q", got)
	}
	if got := Tokens(&Doc{Deleted: true, Name: "x"}); got != nil {
		t.Fatalf("a deleted doc has tokens %q", got)
	}
}

func TestLowerMatchesPython(t *testing.T) {
	// Expected values are Python 3's str.lower().
	for in, want := range map[string]string{
		"ABC":     "abc",
		"ΣΑΣ":     "σας",
		"Σ":       "σ",
		"ΑΣ.":     "ας.",
		"ΑΣΑ":     "ασα",
		"İ":       "i\u0307",
		"ǅemal":   "ǆemal",
		"ÀÉÎÕÜ":   "àéîõü",
		"Straße":  "straße",
		"ΑΣ'Α":    "ασ'α",
		"123 ABC": "123 abc",
	} {
		if got := Lower(in); got != want {
			t.Errorf("Lower(%q) = %q, want %q", in, got, want)
		}
	}
}
