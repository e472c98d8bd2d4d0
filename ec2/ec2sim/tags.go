package ec2sim

import (
	"slices"
	"strings"
)

func opCreateTags(o *op) (any, error) {
	ids := o.p.list("ResourceId")
	if len(ids) == 0 {
		return nil, missing("ResourceId")
	}
	tags, err := o.p.tags("Tag")
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, missing("Tag")
	}
	for _, t := range tags {
		if strings.HasPrefix(t.Key, "aws:") {
			return nil, invalidValue("Tag.N.Key", t.Key, "Tag keys starting with 'aws:' are reserved for AWS use.")
		}
	}
	for _, id := range ids {
		if err := o.w.exists(id); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		o.w.setTags(id, tags)
	}
	o.dirty = true
	return returnTrue()
}

// opDeleteTags deletes the keys given; a tag given with a value is deleted
// only if it has that value, as the DeleteTags reference says. No Tag
// parameter deletes every tag.
func opDeleteTags(o *op) (any, error) {
	ids := o.p.list("ResourceId")
	if len(ids) == 0 {
		return nil, missing("ResourceId")
	}
	for _, id := range ids {
		if err := o.w.exists(id); err != nil {
			return nil, err
		}
	}
	specs := o.p.structs("Tag")
	for _, id := range ids {
		m := o.w.Tags[id]
		if len(specs) == 0 {
			for k := range m {
				if !strings.HasPrefix(k, "aws:") {
					delete(m, k)
				}
			}
		}
		for _, s := range specs {
			if _, hasValue := s["Value"]; hasValue && m[s["Key"]] != s["Value"] {
				continue
			}
			delete(m, s["Key"])
		}
	}
	o.dirty = true
	return returnTrue()
}

var tagFilters = filterFields[xResourceTag]{
	"resource-id":   func(t xResourceTag) []string { return one(t.ResourceID) },
	"resource-type": func(t xResourceTag) []string { return one(t.ResourceType) },
	"key":           func(t xResourceTag) []string { return one(t.Key) },
	"value":         func(t xResourceTag) []string { return []string{t.Value} },
}

type describeTagsResp struct {
	respBase
	TagSet    items[xResourceTag] `xml:"tagSet"`
	NextToken string              `xml:"nextToken,omitempty"`
}

func opDescribeTags(o *op) (any, error) {
	var all []xResourceTag
	for id := range o.w.Tags {
		for _, t := range o.w.tagList(id) {
			all = append(all, xResourceTag{ResourceID: id, ResourceType: resourceType(id), Key: t.Key, Value: t.Value})
		}
	}
	slices.SortFunc(all, func(a, b xResourceTag) int {
		if c := strings.Compare(a.ResourceID, b.ResourceID); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	all, err := applyFilters(o, tagFilters, all, func(t xResourceTag) map[string]string { return map[string]string{t.Key: t.Value} })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(o, "DescribeTags", all, 5, 1000)
	if err != nil {
		return nil, err
	}
	return &describeTagsResp{TagSet: itemsOf(page), NextToken: next}, nil
}
