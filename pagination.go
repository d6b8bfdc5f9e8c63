package tfc

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"unicode"
)

// MaxPageSize is the largest page[size] the services accept.
const MaxPageSize = 100

// ListOptions selects one page of a list: page[number] and page[size] on the wire.
// Zero values leave the choice to the service (page 1, 20 items).
type ListOptions struct {
	// PageNumber is the page to fetch, from 1.
	PageNumber int `url:"page[number],omitempty"`
	// PageSize is the number of items per page, from 1 to MaxPageSize.
	PageSize int `url:"page[size],omitempty"`
}

func (o ListOptions) validate() error {
	if o.PageNumber < 0 {
		return invalidArg("page number", "must not be negative")
	}
	if o.PageSize < 0 || o.PageSize > MaxPageSize {
		return invalidArg("page size", fmt.Sprintf("must be between 1 and %d (or 0 for the service's default)", MaxPageSize))
	}
	return nil
}

// Pagination is a list response's meta.pagination.
type Pagination struct {
	CurrentPage int `json:"current-page"`
	PageSize    int `json:"page-size"`
	// PrevPage and NextPage are 0 where the service sends null: there is no such page.
	PrevPage   int `json:"prev-page"`
	NextPage   int `json:"next-page"`
	TotalPages int `json:"total-pages"`
	TotalCount int `json:"total-count"`
}

// Page is one page of a list.
type Page[T any] struct {
	Items []*T
	// Pagination is nil when the response carried none, which means it held the whole
	// list.
	Pagination *Pagination
}

// allPageSize is the page size All iterators ask for unless told otherwise: the
// largest, so that a sweep spends as few requests as it can under the rate ceiling.
const allPageSize = MaxPageSize

// allItems iterates over every item of a list, fetching pages on demand with ctx. It
// starts at lo's page (default 1) with lo's page size (default MaxPageSize), stops after
// the last page, and ends with an error, once, when a fetch fails, ctx is done, or the
// service's pagination goes wrong: a page that repeats or goes backwards, or an empty
// page that claims a next one. Breaking out of the loop stops fetching.
func allItems[T any](ctx context.Context, lo ListOptions, fetch func(context.Context, ListOptions) (*Page[T], error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		if ctx == nil {
			yield(nil, invalidArg("context", "must not be nil"))
			return
		}
		if lo.PageSize == 0 {
			lo.PageSize = allPageSize
		}
		if lo.PageNumber == 0 {
			lo.PageNumber = 1
		}
		if err := lo.validate(); err != nil {
			yield(nil, err)
			return
		}
		for {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			page, err := fetch(ctx, lo)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, item := range page.Items {
				if !yield(item, nil) {
					return
				}
			}
			pg := page.Pagination
			if pg == nil || pg.NextPage == 0 {
				return
			}
			switch {
			case pg.CurrentPage != 0 && pg.CurrentPage != lo.PageNumber:
				yield(nil, fmt.Errorf("tfc: pagination: asked for page %d, the service answered with page %d", lo.PageNumber, pg.CurrentPage))
				return
			case pg.NextPage <= lo.PageNumber:
				yield(nil, fmt.Errorf("tfc: pagination: page %d names page %d as the next one", lo.PageNumber, pg.NextPage))
				return
			case len(page.Items) == 0:
				yield(nil, fmt.Errorf("tfc: pagination: page %d is empty but names page %d as the next one", lo.PageNumber, pg.NextPage))
				return
			}
			lo.PageNumber = pg.NextPage
		}
	}
}

// listPage GETs one page of resources at path and converts each with conv.
func listPage[A, R, T any](ctx context.Context, p *pipeline, path string, query any, conv func(*resource[A, R], *includes) T) (*Page[T], error) {
	var page *Page[T]
	err := p.withBody(ctx, call{method: http.MethodGet, path: path, query: query}, func(body []byte) error {
		var doc document[[]resource[A, R]]
		if body != nil {
			if err := decodeDocument(body, &doc, decodeResourceList[A, R]); err != nil {
				return err
			}
		}
		page = pageFromDoc(&doc, conv)
		return nil
	})
	return page, err
}

// pageFromDoc converts a decoded list document into a Page.
func pageFromDoc[A, R, T any](doc *document[[]resource[A, R]], conv func(*resource[A, R], *includes) T) *Page[T] {
	var inc *includes
	if len(doc.Included) > 0 {
		inc = newIncludes(doc.Included)
	}
	items := make([]T, len(doc.Data))
	ptrs := make([]*T, len(doc.Data))
	for i := range doc.Data {
		items[i] = conv(&doc.Data[i], inc)
		ptrs[i] = &items[i]
	}
	return &Page[T]{Items: ptrs, Pagination: doc.Meta.pagination()}
}

// readOne sends c and converts the single resource of the response with conv (a 204
// No Content converts the zero resource).
func readOne[A, R, T any](ctx context.Context, p *pipeline, c call, conv func(*resource[A, R], *includes) T) (*T, error) {
	var v T
	err := p.withBody(ctx, c, func(body []byte) error {
		var doc document[resource[A, R]]
		if body != nil {
			if err := decodeDocument(body, &doc, decodeResource[A, R]); err != nil {
				return err
			}
		}
		var inc *includes
		if len(doc.Included) > 0 {
			inc = newIncludes(doc.Included)
		}
		v = conv(&doc.Data, inc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// requireID checks an ID or name that becomes a path segment: not empty, and free of
// slashes and whitespace, which no ID contains.
func requireID(name, v string) error {
	if v == "" {
		return invalidArg(name, "must not be empty")
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return invalidArg(name, "must not contain slashes or whitespace")
	}
	return nil
}
