#!/bin/sh
# mkimage.sh ROOTFS LAYOUT TAG [gzip|none]: an OCI layout with one tar+gzip (or plain tar) layer of
# ROOTFS, built with tar, gzip and sha256sum only (no libarchive, no skopeo: an independent writer
# of the format). A CMD environment variable replaces the config's Cmd (a JSON array).
set -eu
rootfs=$1 out=$2 tag=$3 comp=${4:-gzip}
cmd=${CMD:-'["/bin/sh","-c","echo hello from donjon"]'}
mkdir -p "$out/blobs/sha256"
tmp=$(mktemp -d)
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$rootfs" -cf "$tmp/layer.tar" .
diffid=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
if [ "$comp" = gzip ]; then
  gzip -n -c "$tmp/layer.tar" > "$tmp/layer.tgz"
  ltype=application/vnd.oci.image.layer.v1.tar+gzip
else
  mv "$tmp/layer.tar" "$tmp/layer.tgz"
  ltype=application/vnd.oci.image.layer.v1.tar
fi
ldig=$(sha256sum "$tmp/layer.tgz" | cut -d' ' -f1)
lsize=$(stat -c %s "$tmp/layer.tgz")
mv "$tmp/layer.tgz" "$out/blobs/sha256/$ldig"
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$cmd" "$diffid" > "$tmp/config"
cdig=$(sha256sum "$tmp/config" | cut -d' ' -f1); csize=$(stat -c %s "$tmp/config")
mv "$tmp/config" "$out/blobs/sha256/$cdig"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"%s","digest":"sha256:%s","size":%s}]}' "$cdig" "$csize" "$ltype" "$ldig" "$lsize" > "$tmp/manifest"
mdig=$(sha256sum "$tmp/manifest" | cut -d' ' -f1); msize=$(stat -c %s "$tmp/manifest")
mv "$tmp/manifest" "$out/blobs/sha256/$mdig"
printf '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$mdig" "$msize" "$tag" > "$out/index.json"
rm -rf "$tmp"
