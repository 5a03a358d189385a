package voicectl

import (
	"math"
)

// Regions known to placement, with the coordinates of a city in each
// (Discord's rtc_region names). A channel without rtc_region is placed in
// the live region nearest its first joiner's preferred region, by
// great-circle distance between these points. A region missing from the
// table is as far from every other as can be: it is chosen only by its
// exact name, or when no known region has a node (then by name).
var regionCoords = map[string][2]float64{
	"us-west":     {37.77, -122.42}, // San Francisco
	"us-central":  {41.88, -87.63},  // Chicago
	"us-south":    {32.78, -96.80},  // Dallas
	"us-east":     {38.95, -77.45},  // Ashburn
	"brazil":      {-23.55, -46.63}, // São Paulo
	"rotterdam":   {51.92, 4.48},
	"europe":      {50.11, 8.68}, // Frankfurt
	"russia":      {55.76, 37.62},
	"india":       {19.08, 72.88}, // Mumbai
	"singapore":   {1.35, 103.82},
	"hongkong":    {22.32, 114.17},
	"japan":       {35.68, 139.69}, // Tokyo
	"south-korea": {37.57, 126.98}, // Seoul
	"sydney":      {-33.87, 151.21},
	"southafrica": {-26.20, 28.05}, // Johannesburg
}

// KnownRegion reports whether placement knows where region is.
func KnownRegion(region string) bool { _, ok := regionCoords[region]; return ok }

// unknownDistance is the distance between a region and one missing from
// the table (greater than any on Earth).
const unknownDistance = 1e6

// Distance is the great-circle distance in km between two regions: 0 for
// the same name, unknownDistance when either is not in the table.
func Distance(a, b string) float64 {
	if a == b {
		return 0
	}
	pa, oka := regionCoords[a]
	pb, okb := regionCoords[b]
	if !oka || !okb {
		return unknownDistance
	}
	const r = 6371.0
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	lat1, lat2 := rad(pa[0]), rad(pb[0])
	dlat, dlon := lat2-lat1, rad(pb[1]-pa[1])
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1)*math.Cos(lat2)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}
