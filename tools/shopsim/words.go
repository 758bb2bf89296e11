package shopsim

// Word lists for product names and descriptions. They are read-only tables
// (never written), so they are not mutable state. A few entries exercise
// the tokenizer: non-ASCII letters, a decomposed accent (combining mark,
// which is not a word character), superscript and vulgar-fraction digits
// (category No), a Roman numeral (Nl), Arabic-Indic digits (Nd), CJK and
// kana (Lo, Lm), an underscore and an emoji (not a word character).
//
// None of them contains U+0130 (capital I with dot) or a capital sigma:
// those are the only letters whose lower-casing differs between Go's
// per-rune mapping and Python's str.lower (full case mapping, final sigma).

var nameAdjectives = []string{
	"Ergonomic", "Wireless", "Rugged", "Compact", "Smart", "Premium",
	"Vintage", "Portable", "Silent", "Mechanical", "Ultra", "Classic",
	"Crème", "Ünïcode", "Café", "Naïve", "Über", "Größe", "Señor",
	"Smörgås", "Łódź", "Ελληνικό", "Москва", "東京", "Cafe\u0301",
	"Eco_Friendly", "Nordic", "Deluxe", "Mini", "Pro-Grade",
}

var nameMaterials = []string{
	"", "", "", "", "Aluminium", "Bamboo", "Carbon", "Walnut", "Steel",
	"Crème-Coloured", "Velvet", "Titanium", "Glass", "Wool",
}

var nameNouns = []string{
	"Laptop", "Mouse", "Keyboard", "Monitor", "Headphones", "Webcam",
	"Speaker", "Charger", "USB-C Cable", "Docking Station", "Tablet",
	"Router", "Microphone", "Desk Lamp", "Office Chair", "Standing Desk",
	"Backpack", "Espresso Machine", "Kettle", "Thermos", "Smartwatch",
	"カメラ", "Stylus", "Power Bank", "Soundbar",
}

var nameSuffixes = []string{
	"", "", "", "", "", "Pro", "Max", "Lite", "Plus", "2", "X", "4K",
	"Mk Ⅱ", "v2", "x²", "٣٠٠", "2-in-1", "Edition Spéciale",
}

var descOpeners = []string{
	"A", "An everyday", "The", "Our best-selling", "A hand-made",
	"Un", "A café-grade", "A limited",
}

var descFeatures = []string{
	"noise cancelling", "fast charging", "a crème finish", "low latency",
	"water resistant seals", "eco_friendly packaging", "½ the weight",
	"a 2-year warranty", "Bluetooth 5.3", "RGB lighting",
	"Ünïcode-safe firmware", "a naïve-proof setup", "über-long battery life",
	"a 東京 design studio finish", "🎧 studio sound", "fair-trade café beans",
	"recycled aluminium", "a détachable cable", "déjà vu comfort",
	"Wi-Fi 6E", "a 100% cotton pouch", "zero-click pairing",
}

var descClosers = []string{
	".", "!", " — loved by customers.", " (ships in 24h).",
	". Très chic.", ". Ideal for home & office.",
}

// giftPrices are the prices of the shop's extra order lines that reference
// no product (order_items.product_id NULL): gift wrapping, services, fees.
var giftPrices = []int64{499, 299, 999, 1500}
