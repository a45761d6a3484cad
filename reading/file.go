package reading

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ParseFile reads the readings of one file, choosing the parser by its name and content: a
// ".json" file goes to ParseJSON; otherwise a first line that starts with "sensor_id" and
// holds a ';' is a Sensor.Community archive file (ParseArchiveCSV), and anything else is the
// Commons CSV (ParseCSV). loc is only used for CSV files. Errors name the file.
func ParseFile(path string, loc Locator, opt Options) ([]Reading, []RowError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading: %w", err)
	}
	defer f.Close()
	var rs []Reading
	var rejected []RowError
	if strings.EqualFold(filepath.Ext(path), ".json") {
		rs, rejected, err = parseJSON(f, opt)
	} else {
		br := bufio.NewReader(f)
		// Peek fails short of the buffer size for a smaller file, returning what there is.
		head, _ := br.Peek(br.Size())
		line, _, _ := bytes.Cut(bytes.TrimPrefix(head, []byte("\ufeff")), []byte("\n"))
		if bytes.HasPrefix(line, []byte("sensor_id")) && bytes.IndexByte(line, ';') >= 0 {
			rs, rejected, err = parseArchiveCSV(br, loc, opt)
		} else {
			rs, rejected, err = parseCSV(br, loc, opt)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading: %s: %w", path, err)
	}
	return rs, rejected, nil
}
