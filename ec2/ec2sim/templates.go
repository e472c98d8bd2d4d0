package ec2sim

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var templateNamePattern = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)

// template finds a launch template by id or name, with the error codes of
// the launch template API pages.
func (o *op) template(id, name string) (*launchTemplate, error) {
	switch {
	case id != "" && name != "":
		return nil, invalidCombination("Specify LaunchTemplateId or LaunchTemplateName, not both")
	case id != "":
		if lt, ok := o.w.Templates[id]; ok {
			return lt, nil
		}
		return nil, clientErr("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
	case name != "":
		for _, lt := range o.w.Templates {
			if lt.Name == name {
				return lt, nil
			}
		}
		return nil, clientErr("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
	}
	return nil, missing("LaunchTemplateId or LaunchTemplateName")
}

// version resolves "$Latest", "$Default" or a number; empty means $Default.
func (lt *launchTemplate) version(v string) (*ltVersion, error) {
	n := lt.DefaultVersion
	switch v {
	case "", "$Default":
	case "$Latest":
		n = len(lt.Versions)
	default:
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			return nil, invalidValue("Version", v, "Expected a version number, $Latest or $Default.")
		}
	}
	if n < 1 || n > len(lt.Versions) {
		return nil, clientErr("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for template %s.", v, lt.ID)
	}
	return lt.Versions[n-1], nil
}

func (o *op) resolveTemplate(id, name, version string) (*launchTemplate, *ltVersion, error) {
	lt, err := o.template(id, name)
	if err != nil {
		return nil, nil, err
	}
	v, err := lt.version(version)
	return lt, v, err
}

// templateData reads LaunchTemplateData.*, starting from base.
func (o *op) templateData(base ltData) (ltData, error) {
	p := o.p.sub("LaunchTemplateData")
	d := base
	if v := p.str("ImageId"); v != "" {
		d.ImageID = v
	}
	if v := p.str("InstanceType"); v != "" {
		d.InstanceType = v
	}
	if v := p.str("UserData"); v != "" {
		d.UserData = v
	}
	if v := p.str("Placement.AvailabilityZone"); v != "" {
		d.AZ = v
	}
	if v := p.str("NetworkInterface.1.SubnetId"); v != "" {
		if _, ok := o.w.Subnets[v]; !ok {
			return d, notFound("InvalidSubnetID.NotFound", "subnet ID", v)
		}
		d.SubnetID = v
	}
	specs, err := p.tagSpecs("TagSpecification")
	if err != nil {
		return d, err
	}
	if len(specs) > 0 {
		d.TagSpecs = specs
	}
	return d, nil
}

func (w *world) renderVersion(lt *launchTemplate, v *ltVersion) xLTVersion {
	x := xLTVersion{LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, VersionNumber: v.Number,
		VersionDescription: v.Description, CreateTime: awsTime(v.CreateTime), CreatedBy: "arn:aws:iam::" + ownerID + ":root",
		DefaultVersion:     v.Number == lt.DefaultVersion,
		LaunchTemplateData: xLTData{ImageID: v.Data.ImageID, InstanceType: v.Data.InstanceType, UserData: v.Data.UserData}}
	if v.Data.AZ != "" {
		x.LaunchTemplateData.Placement = &xLTPlacement{v.Data.AZ}
	}
	if v.Data.SubnetID != "" {
		x.LaunchTemplateData.NetworkInterfaceSet = &items[xLTENI]{Items: []xLTENI{{SubnetID: v.Data.SubnetID}}}
	}
	if len(v.Data.TagSpecs) > 0 {
		specs := &items[xTagSpec]{}
		types := make([]string, 0, len(v.Data.TagSpecs))
		for rt := range v.Data.TagSpecs {
			types = append(types, rt)
		}
		slices.Sort(types)
		for _, rt := range types {
			specs.Items = append(specs.Items, xTagSpec{ResourceType: rt, TagSet: xTags(v.Data.TagSpecs[rt])})
		}
		x.LaunchTemplateData.TagSpecificationSet = specs
	}
	return x
}

func (w *world) renderTemplate(lt *launchTemplate) xLaunchTemplate {
	return xLaunchTemplate{LaunchTemplateID: lt.ID, LaunchTemplateName: lt.Name, CreateTime: awsTime(lt.CreateTime),
		CreatedBy: "arn:aws:iam::" + ownerID + ":root", DefaultVersionNumber: lt.DefaultVersion,
		LatestVersionNumber: len(lt.Versions), TagSet: xTags(w.tagList(lt.ID))}
}

type createLaunchTemplateResp struct {
	respBase
	LaunchTemplate xLaunchTemplate `xml:"launchTemplate"`
}

func opCreateLaunchTemplate(o *op) (any, error) {
	name, err := o.p.required("LaunchTemplateName")
	if err != nil {
		return nil, err
	}
	if !templateNamePattern.MatchString(name) {
		return nil, invalidValue("LaunchTemplateName", name, "A name is 3 to 128 letters, digits and ( ) . - / _ characters.")
	}
	for _, lt := range o.w.Templates {
		if lt.Name == name {
			return nil, clientErr("InvalidLaunchTemplateName.AlreadyExistsException",
				"Launch template name already in use: %s", name)
		}
	}
	if len(o.p.sub("LaunchTemplateData")) == 0 {
		return nil, missing("LaunchTemplateData")
	}
	data, err := o.templateData(ltData{})
	if err != nil {
		return nil, err
	}
	specs, err := o.p.tagSpecs("TagSpecification")
	if err != nil {
		return nil, err
	}
	lt := &launchTemplate{ID: o.w.newID("lt-"), Name: name, DefaultVersion: 1, CreateTime: o.now,
		Versions: []*ltVersion{{Number: 1, Description: o.p.str("VersionDescription"), CreateTime: o.now, Data: data}}}
	o.w.Templates[lt.ID] = lt
	o.w.setTags(lt.ID, specs["launch-template"])
	o.dirty = true
	return &createLaunchTemplateResp{LaunchTemplate: o.w.renderTemplate(lt)}, nil
}

type createLTVersionResp struct {
	respBase
	LaunchTemplateVersion xLTVersion `xml:"launchTemplateVersion"`
}

// opCreateLaunchTemplateVersion starts from SourceVersion's data when one
// is given and overrides what LaunchTemplateData sets, as the API
// reference describes.
func opCreateLaunchTemplateVersion(o *op) (any, error) {
	lt, err := o.template(o.p.str("LaunchTemplateId"), o.p.str("LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	var base ltData
	if src := o.p.str("SourceVersion"); src != "" {
		v, err := lt.version(src)
		if err != nil {
			return nil, err
		}
		base = v.Data
	}
	if len(o.p.sub("LaunchTemplateData")) == 0 {
		return nil, missing("LaunchTemplateData")
	}
	data, err := o.templateData(base)
	if err != nil {
		return nil, err
	}
	v := &ltVersion{Number: len(lt.Versions) + 1, Description: o.p.str("VersionDescription"), CreateTime: o.now, Data: data}
	lt.Versions = append(lt.Versions, v)
	o.dirty = true
	return &createLTVersionResp{LaunchTemplateVersion: o.w.renderVersion(lt, v)}, nil
}

type modifyLaunchTemplateResp struct {
	respBase
	LaunchTemplate xLaunchTemplate `xml:"launchTemplate"`
}

// opModifyLaunchTemplate sets the default version ($Default).
func opModifyLaunchTemplate(o *op) (any, error) {
	lt, err := o.template(o.p.str("LaunchTemplateId"), o.p.str("LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	want, err := o.p.required("SetDefaultVersion")
	if err != nil {
		return nil, err
	}
	v, err := lt.version(want)
	if err != nil {
		return nil, err
	}
	lt.DefaultVersion = v.Number
	o.dirty = true
	return &modifyLaunchTemplateResp{LaunchTemplate: o.w.renderTemplate(lt)}, nil
}

var templateFilters = filterFields[*launchTemplate]{
	"launch-template-name": func(lt *launchTemplate) []string { return one(lt.Name) },
	"launch-template-id":   func(lt *launchTemplate) []string { return one(lt.ID) },
}

type describeLTsResp struct {
	respBase
	LaunchTemplates items[xLaunchTemplate] `xml:"launchTemplates"`
	NextToken       string                 `xml:"nextToken,omitempty"`
}

func opDescribeLaunchTemplates(o *op) (any, error) {
	var all []*launchTemplate
	ids, names := o.p.list("LaunchTemplateId"), o.p.list("LaunchTemplateName")
	for _, id := range ids {
		lt, err := o.template(id, "")
		if err != nil {
			return nil, err
		}
		all = append(all, lt)
	}
	for _, n := range names {
		lt, err := o.template("", n)
		if err != nil {
			return nil, err
		}
		all = append(all, lt)
	}
	if len(ids) == 0 && len(names) == 0 {
		for _, lt := range o.w.Templates {
			all = append(all, lt)
		}
		slices.SortFunc(all, func(a, b *launchTemplate) int { return strings.Compare(a.Name, b.Name) })
	}
	all, err := applyFilters(o, templateFilters, all, func(lt *launchTemplate) map[string]string { return o.w.Tags[lt.ID] })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(o, "DescribeLaunchTemplates", all, 1, 200)
	if err != nil {
		return nil, err
	}
	out := &describeLTsResp{NextToken: next}
	for _, lt := range page {
		out.LaunchTemplates.Items = append(out.LaunchTemplates.Items, o.w.renderTemplate(lt))
	}
	return out, nil
}

type describeLTVersionsResp struct {
	respBase
	LaunchTemplateVersionSet items[xLTVersion] `xml:"launchTemplateVersionSet"`
	NextToken                string            `xml:"nextToken,omitempty"`
}

func opDescribeLaunchTemplateVersions(o *op) (any, error) {
	lt, err := o.template(o.p.str("LaunchTemplateId"), o.p.str("LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	var vs []*ltVersion
	if want := o.p.list("LaunchTemplateVersion"); len(want) > 0 {
		for _, w := range want {
			v, err := lt.version(w)
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
		}
	} else {
		vs = append(vs, lt.Versions...)
		slices.Reverse(vs) // newest first, as EC2 lists them
	}
	versionFilters := filterFields[*ltVersion]{
		"is-default-version": func(v *ltVersion) []string { return []string{boolString(v.Number == lt.DefaultVersion)} },
		"image-id":           func(v *ltVersion) []string { return one(v.Data.ImageID) },
		"instance-type":      func(v *ltVersion) []string { return one(v.Data.InstanceType) },
	}
	vs, err = applyFilters(o, versionFilters, vs, func(*ltVersion) map[string]string { return nil })
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(o, "DescribeLaunchTemplateVersions", vs, 1, 200)
	if err != nil {
		return nil, err
	}
	out := &describeLTVersionsResp{NextToken: next}
	for _, v := range page {
		out.LaunchTemplateVersionSet.Items = append(out.LaunchTemplateVersionSet.Items, o.w.renderVersion(lt, v))
	}
	return out, nil
}
