// chart-render: renders a Helm chart the way `helm template` does, for machines without helm. It uses the engines
// Helm uses (Go text/template with sprig v3, toYaml through ghodss/sigs yaml) and Helm's own additions: include,
// tpl, required, toYaml/fromYaml/toJson/fromJson, lookup (always empty, as in helm template), .Values, .Release,
// .Chart, .Capabilities, .Template and .Files (Get, GetBytes). Values arrive already merged and validated against
// values.schema.json.
//
// usage: chart-render -chart DIR -values merged.json [-release NAME] [-namespace NS] [-kube-version V]
//        [-api-versions a,b] [-notes FILE]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver/v3"
	"github.com/Masterminds/sprig/v3"
	"github.com/ghodss/yaml"
)

type chartMeta struct {
	APIVersion  string   `json:"apiVersion"`
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	AppVersion  string   `json:"appVersion"`
	KubeVersion string   `json:"kubeVersion"`
	Description string   `json:"description"`
	Type        string   `json:"type"`
	Keywords    []string `json:"keywords"`
}

// VersionSet mirrors Helm's chartutil.VersionSet: templates call .Capabilities.APIVersions.Has "group/version".
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// Files mirrors Helm's .Files: the chart's files outside templates/ and charts/, less Chart.yaml, Chart.lock,
// values.yaml and values.schema.json, keyed by their slash path in the chart. Get and GetBytes return empty for a
// missing file, as Helm's do.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte {
	if b, ok := f[name]; ok {
		return b
	}
	return []byte{}
}

func (f Files) Get(name string) string { return string(f.GetBytes(name)) }

// loadFiles reads the files Helm's loader puts in .Files, leaving out what .helmignore names. Its patterns are
// matched like Helm's for the forms this renderer supports (a glob on the base name, or on the path when it has a
// slash; a trailing slash for directories); a negation (!) is refused rather than misread.
func loadFiles(chartDir string) (Files, error) {
	var ignore []string
	if b, err := os.ReadFile(filepath.Join(chartDir, ".helmignore")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if strings.HasPrefix(l, "!") || strings.Contains(l, "**") {
				return nil, fmt.Errorf(".helmignore: %q is not supported by this renderer", l)
			}
			ignore = append(ignore, l)
		}
	}
	ignored := func(rel string, dir bool) bool {
		for _, p := range ignore {
			if strings.HasSuffix(p, "/") {
				if !dir {
					continue
				}
				p = strings.TrimSuffix(p, "/")
			}
			subject := path.Base(rel)
			if strings.Contains(p, "/") {
				subject = rel
				p = strings.TrimPrefix(p, "/")
			}
			if ok, _ := path.Match(p, subject); ok {
				return true
			}
		}
		return false
	}
	out := Files{}
	err := filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if info.IsDir() {
			if rel == "templates" || rel == "charts" || ignored(rel, true) {
				return filepath.SkipDir
			}
			return nil
		}
		switch rel {
		case "Chart.yaml", "Chart.lock", "values.yaml", "values.schema.json", "requirements.yaml", "requirements.lock":
			return nil
		}
		if ignored(rel, false) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = b
		return nil
	})
	return out, err
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "chart-render: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	valuesFile := flag.String("values", "", "merged values as JSON")
	release := flag.String("release", "asymroute", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "1.29.0", "Kubernetes version for .Capabilities")
	apiVersions := flag.String("api-versions", "", "extra API versions for .Capabilities.APIVersions, comma-separated")
	notesFile := flag.String("notes", "", "write the rendered NOTES.txt here")
	flag.Parse()
	if *chartDir == "" || *valuesFile == "" {
		fail("-chart and -values are required")
	}

	raw, err := os.ReadFile(filepath.Join(*chartDir, "Chart.yaml"))
	if err != nil {
		fail("%v", err)
	}
	var meta chartMeta
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		fail("Chart.yaml: %v", err)
	}
	if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
		fail("Chart.yaml: apiVersion v2, name and version are required")
	}
	if _, err := semver.StrictNewVersion(meta.Version); err != nil {
		fail("Chart.yaml: version %q is not SemVer 2: %v", meta.Version, err)
	}
	kv, err := semver.NewVersion(*kubeVersion)
	if err != nil {
		fail("-kube-version %q: %v", *kubeVersion, err)
	}
	if meta.KubeVersion != "" {
		c, err := semver.NewConstraint(meta.KubeVersion)
		if err != nil {
			fail("Chart.yaml kubeVersion %q: %v", meta.KubeVersion, err)
		}
		if !c.Check(kv) {
			fail("chart requires kubeVersion: %s which is incompatible with Kubernetes v%s", meta.KubeVersion, kv.String())
		}
	}

	var values map[string]interface{}
	vraw, err := os.ReadFile(*valuesFile)
	if err != nil {
		fail("%v", err)
	}
	if err := json.Unmarshal(vraw, &values); err != nil {
		fail("values: %v", err)
	}

	apis := VersionSet{"v1", "apps/v1", "rbac.authorization.k8s.io/v1", "policy/v1"}
	for _, a := range strings.Split(*apiVersions, ",") {
		if a != "" {
			apis = append(apis, a)
		}
	}
	chartFiles, err := loadFiles(*chartDir)
	if err != nil {
		fail("%v", err)
	}
	top := map[string]interface{}{
		"Values": values,
		"Files":  chartFiles,
		"Release": map[string]interface{}{
			"Name": *release, "Namespace": *namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": meta.Name, "Version": meta.Version, "AppVersion": meta.AppVersion, "Description": meta.Description,
			"KubeVersion": meta.KubeVersion, "Type": meta.Type, "APIVersion": meta.APIVersion, "Keywords": meta.Keywords,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": "v" + kv.String(), "GitVersion": "v" + kv.String(),
				"Major": fmt.Sprint(kv.Major()), "Minor": fmt.Sprint(kv.Minor()),
			},
			"APIVersions": apis,
		},
	}

	// Every file under templates/, named as Helm names them: <chart>/templates/<file>.
	tdir := filepath.Join(*chartDir, "templates")
	var names []string
	files := map[string]string{}
	err = filepath.Walk(tdir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(*chartDir, p)
		name := path.Join(meta.Name, filepath.ToSlash(rel))
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[name] = string(b)
		names = append(names, name)
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	sort.Strings(names)

	root := template.New("gotpl")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includedNames := map[string]int{}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) { return map[string]interface{}{}, nil }
	funcs["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warn)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warn)
		}
		return val, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if includedNames[name] > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		includedNames[name]++
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
	funcs["tpl"] = func(tpl string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(tpl)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return strings.ReplaceAll(buf.String(), "<no value>", ""), err
	}
	root.Funcs(funcs).Option("missingkey=zero")
	for _, n := range names {
		if _, err := root.New(n).Parse(files[n]); err != nil {
			fail("parse %s: %v", n, err)
		}
	}

	var out bytes.Buffer
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": n, "BasePath": path.Join(meta.Name, "templates")}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, n, data); err != nil {
			fail("render %s: %v", n, err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			if *notesFile != "" {
				if err := os.WriteFile(*notesFile, []byte(text), 0o644); err != nil {
					fail("%v", err)
				}
			}
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", n, strings.TrimSpace(text))
	}
	os.Stdout.Write(out.Bytes())
}
