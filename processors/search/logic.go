package search

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// applyChange absorbs a product row change into d. applied is false for a
// duplicate or a change older than the document (connector redelivery),
// which changes nothing. A delete leaves a tombstone that keeps Applied, so
// a redelivered older version is rejected later on. A text column the change
// left unchanged (an unchanged TOASTed value) keeps the document's value;
// unresolved reports one that no earlier version gave a value.
func applyChange(d *Doc, ev event) (applied, unresolved bool) {
	if !d.Applied.Admit(ev.pos, ev.fp) {
		return false, false
	}
	d.Rev++
	d.CDCTsMs = ev.pos.TsMs
	if ev.op == debezium.OpDelete {
		*d = Doc{Rev: d.Rev, Applied: d.Applied, Deleted: true, CDCTsMs: d.CDCTsMs}
		return true, false
	}
	unresolved = ev.unchanged != 0 && !d.Live
	d.Live, d.Deleted = true, false
	d.Name = ev.unchanged.Keep(debezium.ProductName, d.Name, ev.row.Name)
	d.Description = ev.unchanged.Keep(debezium.ProductDescription, d.Description, ev.row.Description)
	d.PriceCents, d.Stock = ev.row.PriceCents, ev.row.StockQuantity
	return true, unresolved
}

// Tokens returns the sorted, unique tokens of a document's name and
// description (nil for a document that is not live).
func Tokens(d *Doc) []string {
	if d == nil || !d.Live {
		return nil
	}
	toks := append(Tokenize(d.Name), Tokenize(d.Description)...)
	slices.Sort(toks)
	return slices.Compact(toks)
}

// Tokenize splits s into search tokens the way the Python service did with
// re.findall(r'\w+', s.lower()): s is lower-cased with Python's str.lower
// (full case mapping: "İ" becomes "i̇", and a capital sigma at the end of a
// word becomes "ς"), then cut into maximal runs of word characters: Unicode
// letters (Lu, Ll, Lt, Lm, Lo), numbers (Nd, Nl, No) and '_'. Combining
// marks are not word characters, so a decomposed "e\u0301" ends a token.
// Tokens are returned in order of appearance, repeats included.
func Tokenize(s string) []string {
	lower := pyLower(s)
	var toks []string
	start := -1
	for i, r := range lower {
		if isWord(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			toks = append(toks, lower[start:i])
			start = -1
		}
	}
	if start >= 0 {
		toks = append(toks, lower[start:])
	}
	return toks
}

// isWord reports whether r is matched by Python's \w (str patterns).
func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// pyLower is Python's str.lower: the simple lower-case mapping plus the two
// special cases Python applies, U+0130 (İ → i + U+0307) and the Final_Sigma
// context of U+03A3 (Σ → ς at the end of a word, else σ).
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var rs []rune
	if strings.ContainsRune(s, 'Σ') {
		rs = []rune(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	ri := 0 // index of the current rune in rs
	for _, r := range s {
		switch r {
		case 'İ':
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(rs, ri) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
		ri++
	}
	return b.String()
}

// finalSigma reports the Final_Sigma context of rs[i] as CPython tests it:
// a cased letter before it (skipping case-ignorable characters) and no
// cased letter after it (skipping case-ignorable characters).
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && isCaseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !isCased(rs[j]) {
		return false
	}
	j = i + 1
	for j < len(rs) && isCaseIgnorable(rs[j]) {
		j++
	}
	return j == len(rs) || !isCased(rs[j])
}

// isCased is Unicode's Cased property: Lowercase, Uppercase or Lt.
func isCased(r rune) bool {
	return unicode.IsLower(r) || unicode.IsUpper(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// isCaseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk
// and the Word_Break classes MidLetter, MidNumLet and Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '\u00B7', '\u0387', '\u055F', '\u05F4', '\u2018', '\u2019', '\u2024',
		'\u2027', '\uFE13', '\uFE52', '\uFE55', '\uFF07', '\uFF0E', '\uFF1A':
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// IndexedAt renders the commit time of the change behind a document (Unix
// ms) as RFC 3339 UTC: the indexed_at of the contract, deterministic for a
// given state.
func IndexedAt(cdcTsMs int64) string {
	return time.UnixMilli(cdcTsMs).UTC().Format(time.RFC3339)
}

// Lower lower-cases s as Python's str.lower does (the name_lower attribute
// of the search table, and the first step of Tokenize).
func Lower(s string) string { return pyLower(s) }
