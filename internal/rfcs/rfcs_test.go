package rfcs

import (
	"regexp"
	"strings"
	"testing"
)

// TestFilesAreRFCTexts checks the list's form: each number's file is docs/rfcs/NNNN-words.md.
func TestFilesAreRFCTexts(t *testing.T) {
	form := regexp.MustCompile(`^([0-9]{4})-[a-z0-9]+(-[a-z0-9]+)*\.md$`)
	if len(files) == 0 {
		t.Fatal("no RFC files")
	}
	for id, f := range files {
		m := form.FindStringSubmatch(f)
		if m == nil || m[1] != id {
			t.Errorf("RFC %s: file %q is not %s-<title>.md", id, f, id)
		}
		u, ok := URL("RFC-" + id)
		if !ok || u != Base+f || !IsURL(u) {
			t.Errorf("URL(RFC-%s) = %q, %v", id, u, ok)
		}
	}
	if !strings.HasPrefix(Base, "https://github.com/openintent-ai/openintent/blob/main/docs/rfcs/") {
		t.Errorf("Base = %q", Base)
	}
	if _, ok := URL("0999"); ok {
		t.Error("URL(0999) found")
	}
	if IsURL(Base+"0001-intent-objects.txt") || IsURL("/rfc/0001") {
		t.Error("IsURL accepts what is no RFC text")
	}
}
