package media

// LanguageTable exposes the language table to the tests as key, value pairs.
func LanguageTable() [][2]string {
	t := make([][2]string, len(languageTable))
	for i, c := range languageTable {
		t[i] = [2]string{c.key, c.bibliographic}
	}
	return t
}
